export { ByteRecorder, RecordingFront } from './recorder.js';
