// Parley web retrieval page. The decryption key is in the URL fragment, which the
// browser never sends to a server. The page removes it from the address bar at once,
// asks the server for a one-time code (sent to the business's second factor) and the
// reader's consent, receives the ciphertext once and decrypts it here, with the web
// message format's one definition (/assets/web-message.js, the file the Sender seals with).
import { openWebMessage } from '/assets/web-message.js';

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
    post('/v1/web/open', { token: token, code: $('code').value.trim(), consent: $('consent').checked }).then(function (r) {
      return openWebMessage(b64(r.ciphertext), b64(fragment));
    }).then(function (plain) {
      fragment = '';
      show('step-open', false);
      $('message').textContent = plain;
      show('result', true);
    }).catch(function (error) {
      if (error && error.code) explain(error);
      else fail('The message could not be decrypted: the link may be damaged.');
    });
  });
}
