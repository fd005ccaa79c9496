// The application page of the Uppy tests: Uppy 6 as its documentation shows it, with the
// Dashboard and the S3 plugin configured with nothing but the companionEndpoint that presign's
// upload-token answer gave (read from ?companion=), and optionally Uppy's own multipart
// threshold. Bundled by esbuild (see uppy.js); it records Uppy's events in window.__events for
// the driver.
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import AwsS3 from '@uppy/aws-s3';
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';

const params = new URLSearchParams(location.search);
const companionEndpoint = params.get('companion');
// ?multipartOver=N sets Uppy's own shouldUseMultipart to files over N bytes (Uppy's default is
// 100 MiB), as a page may.
const multipartOver = params.get('multipartOver');
const s3Options = multipartOver ? { companionEndpoint, shouldUseMultipart: (f) => f.size > Number(multipartOver) } : { companionEndpoint };
// meta is Uppy's metadata of every file; the S3 plugin sends each file's (with name, type and
// relativePath) to the Companion routes, and presign keeps it on the file.
const uppy = new Uppy({ autoProceed: false, meta: { app_ref: 'page-7' } })
  .use(Dashboard, { inline: true, target: '#uppy', height: 420 })
  .use(AwsS3, s3Options);

const events = [];
const at = () => Date.now();
uppy.on('upload-success', (file, response) => events.push({ type: 'upload-success', at: at(), name: file.name, body: response.body, uploadURL: response.uploadURL }));
uppy.on('upload-error', (file, error) => events.push({
  type: 'upload-error', at: at(), name: file && file.name, message: error.message, details: error.details || '',
  cause: error.cause ? String(error.cause) : '', status: error.request ? error.request.status : 0,
  responseText: error.request ? String(error.request.responseText || '') : '',
}));
uppy.on('s3-multipart:part-uploaded', (file, part) => events.push({ type: 'part', at: at(), name: file.name, part: part.PartNumber }));
uppy.on('complete', (result) => events.push({ type: 'complete', at: at(), successful: result.successful.length, failed: result.failed.length }));
uppy.on('file-removed', (file) => events.push({ type: 'file-removed', at: at(), name: file.name }));

window.uppy = uppy;
window.__events = events;
