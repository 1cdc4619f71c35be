// Parley web retrieval page. The decryption key is in the URL fragment, which the
// browser never sends to a server. The page removes it from the address bar at once,
// asks the server for a one-time code (sent to the business's second factor) and the
// reader's consent, receives the ciphertext once and decrypts it here, with the web
// message format's one definition (/assets/web-message.js, the file the Sender seals with).
// Attachments: the answer also carries their references sealed under the same key (the
// manifest) and a short-lived capability; each blob is fetched with it and decrypted here
// (/assets/attachment-stream.js, parley-stream-v1), every check passing before anything is
// shown: an image inline (a blob: URL), any other file as a download with its name. Blobs
// above MAX_WEB_ATTACHMENT_BYTES (32 MiB) are refused: the page holds a blob whole in memory.
import { WEB_ATTACHMENTS_AAD, openWebMessage } from '/assets/web-message.js';
import { MAX_WEB_ATTACHMENT_BYTES, openAttachment } from '/assets/attachment-stream.js';

{
  var token = location.pathname.split('/').pop() || '';
  var fragment = location.hash.replace(/^#/, '');
  if (location.hash) history.replaceState(null, '', location.pathname);
  var $ = function (id) { return document.getElementById(id); };
  var show = function (id, on) { $(id).hidden = !on; };
  var fail = function (text) { $('error').textContent = text; };
  var MESSAGES = {
    token_used: 'This link was already used. Ask the sender for a new message.',
    token_expired: 'This link has expired. Ask the sender for a new message.',
    token_invalid: 'This link is not valid.',
    token_locked: 'Too many wrong codes: this link no longer works.',
    otp_invalid: 'Wrong or expired code. Try again.',
    consent_required: 'Please tick the box to agree before opening the message.',
    second_factor_unavailable: 'The code could not be sent right now. Try again later.'
  };

  function post(path, body) {
    return fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'omit', referrerPolicy: 'no-referrer' })
      .then(function (res) {
        return res.json().then(function (json) {
          if (!res.ok) { var e = new Error('request failed'); e.code = json && json.error ? json.error.code : 'error'; throw e; }
          return json;
        });
      });
  }
  function b64(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  var INLINE = /^image\/(png|jpeg|gif|webp)$/;
  var ATTACHMENT_ERRORS = {
    attachment_too_large: 'too large to open in a browser',
    attachment_tampered: 'it was altered and cannot be trusted',
    attachment_truncated: 'it is incomplete',
    attachment_hash_mismatch: 'it is not the file that was sent',
    attachment_size_mismatch: 'it is not the file that was sent',
    no_blob: 'it is no longer available'
  };
  function validRef(a) {
    return a && typeof a === 'object' && /^[A-Za-z0-9_-]{22}$/.test(a.blobId) && /^[A-Za-z0-9_-]{43}$/.test(a.key) && /^[A-Za-z0-9_-]{43}$/.test(a.sha256) &&
      Number.isSafeInteger(a.size) && a.size >= 0 && Number.isSafeInteger(a.cipherSize) && typeof a.mime === 'string' && (a.name === undefined || typeof a.name === 'string');
  }
  function humanSize(n) { return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KB' : (n / 1048576).toFixed(1) + ' MB'; }
  function fetchBlob(blobId, capability) {
    return fetch('/v1/web/blobs/' + blobId, { headers: { authorization: 'Bearer ' + capability }, credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' }).then(function (res) {
      if (!res.ok) { var e = new Error('fetch failed'); e.code = res.status === 404 ? 'no_blob' : 'error'; throw e; }
      return res.arrayBuffer();
    }).then(function (buffer) { return new Uint8Array(buffer); });
  }
  // One attachment: listed at once, then fetched, decrypted and checked; shown only if every check passed.
  function showAttachment(ref, capability) {
    var item = document.createElement('li');
    item.className = 'attachment';
    item.setAttribute('data-blob', ref.blobId);
    var label = document.createElement('div');
    label.textContent = (ref.name || 'attachment') + ' (' + ref.mime + ', ' + humanSize(ref.size) + ')';
    item.appendChild(label);
    var state = document.createElement('small');
    state.textContent = 'Decrypting…';
    item.appendChild(state);
    $('attachment-list').appendChild(item);
    var opened = ref.cipherSize > MAX_WEB_ATTACHMENT_BYTES
      ? Promise.reject(Object.assign(new Error('too large'), { code: 'attachment_too_large' }))
      : fetchBlob(ref.blobId, capability).then(function (blob) { return openAttachment(blob, ref); });
    return opened.then(function (bytes) {
      var inline = INLINE.test(ref.mime);
      var url = URL.createObjectURL(new Blob([bytes], { type: inline ? ref.mime : 'application/octet-stream' }));
      state.remove();
      if (inline) {
        var img = document.createElement('img');
        img.alt = ref.name || 'image';
        img.src = url;
        item.appendChild(img);
      }
      var link = document.createElement('a');
      link.href = url;
      link.download = ref.name || 'attachment';
      link.textContent = 'Download';
      item.appendChild(link);
      item.setAttribute('data-state', 'ok');
    }).catch(function (error) {
      var code = error && error.code ? error.code : 'attachment_failed';
      state.className = 'attachment-error';
      state.textContent = 'This attachment could not be opened: ' + (ATTACHMENT_ERRORS[code] || 'try again later') + ' (' + code + ')';
      item.setAttribute('data-state', 'failed');
      item.setAttribute('data-error', code);
    });
  }
  function showAttachments(attachments, key) {
    if (!attachments) return Promise.resolve();
    return openWebMessage(b64(attachments.manifest), key, WEB_ATTACHMENTS_AAD).then(function (json) {
      var refs = JSON.parse(json);
      if (!Array.isArray(refs) || refs.length > 10 || !refs.every(validRef)) throw new Error('bad manifest');
      show('attachments', refs.length > 0);
      return Promise.all(refs.map(function (ref) { return showAttachment(ref, attachments.capability); }));
    });
  }

  function explain(error) { fail(MESSAGES[error.code] || 'Something went wrong. Try again later.'); }

  post('/v1/web/describe', { token: token }).then(function (d) {
    $('brand').textContent = d.brand;
    var names = document.querySelectorAll('.brand-name');
    for (var i = 0; i < names.length; i++) names[i].textContent = d.brand;
    if (d.state !== 'usable') { $('status').textContent = ''; fail(MESSAGES['token_' + d.state] || MESSAGES.token_invalid); return; }
    if (d.kind === 'app') { $('status').textContent = 'Open this link on your phone: the ' + d.brand + ' app shows the message.'; return; }
    if (!/^[A-Za-z0-9_-]{43}$/.test(fragment)) { $('status').textContent = ''; fail('This link is incomplete: open it exactly as you received it.'); return; }
    $('status').textContent = 'The message is end-to-end encrypted; it is decrypted only in this browser.';
    show('step-code', true);
  }).catch(explain);

  $('request-code').addEventListener('click', function () {
    fail('');
    post('/v1/web/challenge', { token: token }).then(function () {
      show('step-code', false);
      show('step-open', true);
      $('code').focus();
    }).catch(explain);
  });

  $('open').addEventListener('click', function () {
    fail('');
    var key = b64(fragment);
    post('/v1/web/open', { token: token, code: $('code').value.trim(), consent: $('consent').checked }).then(function (r) {
      return openWebMessage(b64(r.ciphertext), key).then(function (plain) {
        fragment = '';
        show('step-open', false);
        $('message').textContent = plain;
        show('result', true);
        return showAttachments(r.attachments, key);
      });
    }).then(function () {
      key.fill(0);
    }).catch(function (error) {
      key.fill(0);
      if (error && error.code) explain(error);
      else fail('The message could not be decrypted: the link may be damaged.');
    });
  });
}
