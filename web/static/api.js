// The control plane's JSON API as the page uses it (control/openapi.json is the contract): the
// upload calls of presign.js, the module any page may use, and the page's own calls for signing
// in and for the list of files. Every call sends the session token in the Authorization header,
// never in a URL, and only metadata: file bytes go to the storage node, never here.

import { APIError, Client } from './presign.js';

export { APIError };

export class API extends Client {
  /**
   * @param {string} token a session token, or '' before signing in
   * @param {(e: APIError) => void} onUnauthenticated called when the token stops working
   */
  constructor(token, onUnauthenticated) {
    super({ token, onUnauthenticated });
  }

  login(username, password) {
    return this.request('POST', '/v1/login', { username, password });
  }

  logout() {
    return this.request('POST', '/v1/logout');
  }

  me() {
    return this.request('GET', '/v1/me');
  }

  files(after, limit) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after) q.set('after', after);
    return this.request('GET', `/v1/files?${q}`);
  }

  /** A presigned GET of the file ({url, expires_at}), asked for as JSON rather than a redirect. */
  download(id) {
    return this.request('GET', `/v1/files/${encodeURIComponent(id)}/download`);
  }

  deleteFile(id) {
    return this.request('DELETE', `/v1/files/${encodeURIComponent(id)}`);
  }
}
