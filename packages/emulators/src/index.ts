export { ByteRecorder, RecordingFront } from './recorder.js';
export { RbmEmulator, RBM_SCOPE, RBM_PARLEY_FEATURE, RBM_STANDARD_FEATURES, RBM_DEFAULT_UPLOAD_TYPES, type RbmAgent, type RbmCiphertextFile, type RbmEmulatorOptions, type RbmFault, type RbmHandsetMessage, type RbmJson, type RbmMessageState, type RbmPhoneCapability, type RbmSentWebhook, type RbmServiceAccount, type RbmWebhookForgery } from './rbm.js';
export { FcmEmulator, FCM_MESSAGING_SCOPE, type FcmEmulatorOptions, type FcmFault, type FcmFaultOptions, type FcmPlatform, type FcmPush, type FcmRecordedRequest, type FcmTokenGrant } from './fcm.js';
export { ApnsEmulator, type ApnsEmulatorOptions, type ApnsFault, type ApnsPush, type ApnsRecordedRequest } from './apns.js';
export { TwilioEmulator, twilioRequestSignature } from './twilio.js';
export type { CallbackOrderMode, CallbackRecord, CallbackSignatureMode, HandsetSms as TwilioHandsetSms, TwilioEmulatorOptions, TwilioMessage, TwilioMessageStatus } from './twilio.js';
export { SmppEmulator } from './smpp.js';
export type { HandsetSms as SmppHandsetSms, ReceiptStat, SmppEmulatorOptions, SmppSubmission } from './smpp.js';
export { freePort } from './ports.js';
