// The application page of the module tests: it imports presign.js from the control plane
// (?module=) and uploads what is chosen with the upload token of ?token=, remembering unfinished
// uploads under the scope "app" (resume after a reload). Transfers and their endings are kept in
// window.__transfers for the driver.
const params = new URLSearchParams(location.search);
const { upload } = await import(params.get('module'));

window.__transfers = [];
document.getElementById('pick').addEventListener('change', (ev) => {
  for (const file of ev.target.files) {
    const rec = { name: file.name, states: [], result: null, error: null };
    const t = upload(file, {
      token: params.get('token'),
      resume: 'app',
      metadata: { app_ref: 'module-page', chosen_as: file.name },
      onChange: (t) => {
        if (rec.states[rec.states.length - 1] !== t.state) rec.states.push(t.state);
        rec.loaded = t.loaded;
      },
    });
    rec.t = t;
    rec.id = () => t.id;
    t.finished.then((r) => { rec.result = r; }, (e) => { rec.error = { name: e.name, message: e.message, code: e.code || '', status: e.status || 0 }; });
    window.__transfers.push(rec);
  }
  ev.target.value = '';
});
window.__view = () => window.__transfers.map((r) => ({
  name: r.name, id: r.t.id, state: r.t.state, states: r.states, resumed: r.t.resumed, multipart: r.t.multipart,
  parts: r.t.done.size, partCount: r.t.partCount, result: r.result, error: r.error,
}));
window.__ready = true;
