// Web UI for the face-recognition service.
// There is no inline <script>, no style="" and no on*="" attribute anywhere: the server sends a strict
// Content-Security-Policy (script-src 'self'; style-src 'self') that would block them, so all behaviour
// lives in this file and all styling in app.css. The DOM is built only with createElement/textContent:
// server data (user-provided names, labels) is never parsed as HTML.
'use strict';

const KEY_STORE = 'facenet.apiKey'; // sessionStorage only (never localStorage, never the URL)
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const UNKNOWN_COLOR = '#777777';
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
function el(tag, props = {}, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'text') n.textContent = v;
    else if (k === 'class') n.className = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, String(v));
  }
  for (const c of kids.flat()) if (c != null) n.append(c instanceof Node ? c : String(c));
  return n;
}
const btn = (text, onclick, extra = {}) => el('button', { type: 'button', text, onclick, ...extra });

// ---------- API ----------
class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    Object.assign(this, { status, code: e.code || '', requestId: e.request_id || '', retryAfter: retryAfter || '' });
  }
}
const getKey = () => sessionStorage.getItem(KEY_STORE) || '';
async function api(method, path, { json, form, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth && getKey()) headers['x-api-key'] = getKey();
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const body = json !== undefined ? JSON.stringify(json) : form;
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' }).catch((err) => {
    throw new ApiError(0, { error: { code: 'network_error', message: `Could not reach the server (${err.message}).` } });
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.ok) return data;
  if (!data || !data.error) {
    const message = data && data.status ? `status: ${data.status}` : text.slice(0, 300) || res.statusText;
    data = { error: { code: `http_${res.status}`, message } };
  }
  throw new ApiError(res.status, data, res.headers.get('Retry-After'));
}

// ---------- status messages ----------
function showStatus(box, kind, lines) {
  box.className = `status ${kind}`;
  box.replaceChildren(...lines.map((l) => (l instanceof Node ? l : el('p', { text: l }))));
  box.hidden = false;
}
function hideStatus(box) { box.hidden = true; box.replaceChildren(); }
const CODE_HINTS = {
  no_face: 'No face was found in this photo.',
  multiple_faces: 'This photo holds more than one face; use a photo of exactly one person.',
  audit_broken: 'Audit chain verification FAILED: the log does not hash-chain correctly and may have been tampered with.',
};
function headline(err) {
  if (err.status === 401) return 'Not authorised: the API key is missing, wrong or revoked. Enter a valid key at the top.';
  if (err.status === 403) return "Forbidden: this key's role is not allowed to do this.";
  const ra = err.retryAfter;
  if (err.status === 429) return `Rate limited: retry after ${ra ? (/^\d+$/.test(ra) ? `${ra} seconds` : ra) : 'a moment'}.`;
  return CODE_HINTS[err.code] || (err.status ? `Request failed (HTTP ${err.status}).` : 'Request failed.');
}
function showError(box, err) {
  if (!(err instanceof ApiError)) return showStatus(box, 'error', [`Error: ${(err && err.message) || err}`]);
  showStatus(box, 'error', [
    el('p', { class: 'head', text: headline(err) }),
    err.code ? el('p', {}, 'Code: ', el('code', { text: err.code })) : null,
    err.message ? el('p', { text: `Message: ${err.message}` }) : null,
    err.requestId ? el('p', {}, 'Request ID: ', el('code', { class: 'select', text: err.requestId })) : null,
  ].filter(Boolean));
}
// Runs fn with the button disabled and progress/result in box; fn may return a success message.
async function busy(button, box, fn) {
  if (button) button.disabled = true;
  showStatus(box, 'info', ['Working…']);
  try { const msg = await fn(); if (msg) showStatus(box, 'ok', [msg]); else hideStatus(box); }
  catch (err) { showError(box, err); }
  finally { if (button) button.disabled = false; }
}
function onSubmit(formId, statusId, fn) {
  const form = $(formId);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form.querySelector('button[type="submit"]'), $(statusId), () => fn(form));
  });
}
// Asks for confirmation, then runs fn like busy().
const confirmThen = (question, statusId, fn) => window.confirm(question) && busy(null, $(statusId), fn);

// ---------- formatting ----------
const num = (v, d = 3) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');
const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
const fmtBox = (b) => (Array.isArray(b) ? `[${b.map((x) => Math.round(x)).join(', ')}]` : '—');
const swatch = (i) => el('span', { class: i < 0 ? 'sw unk' : `sw c${i % COLORS.length}`, 'aria-hidden': 'true' });
function when(v) {
  if (v == null || v === '') return '—';
  const d = new Date(typeof v === 'number' && v < 1e11 ? v * 1000 : v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}
function parseMetadata(text) {
  if (!text.trim()) return undefined;
  let v;
  try { v = JSON.parse(text); } catch (err) { throw new Error(`Metadata is not valid JSON: ${err.message}`); }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('Metadata must be a JSON object.');
  return v;
}

// ---------- key, readiness, tabs ----------
function refreshKeyState() {
  const has = !!getKey();
  $('key-state').textContent = has ? 'Key set for this browser tab only.' : 'No key set.';
  $('api-key').placeholder = has ? '•••••••• (stored for this tab)' : 'Paste your API key';
  $('forget-key').disabled = !has;
}
async function checkReady() {
  const out = $('ready');
  try {
    const r = await api('GET', '/readyz', { auth: false });
    const m = (r && r.model) || {};
    out.textContent = `Service ${r.status} · model ${m.name || '?'} ${m.version || ''}`.trim();
    out.className = r.status === 'ready' ? 'ready ok' : 'ready warn';
  } catch (err) {
    out.textContent = `Service not ready${err.code ? ` (${err.code})` : ''}: ${err.message}`;
    out.className = 'ready bad';
  }
}
const tabs = [...document.querySelectorAll('[role="tab"]')];
const loaders = { gallery: () => loadSubjects(), keys: () => loadKeys(), audit: () => loadAudit() };
function selectTab(tab, focus) {
  for (const t of tabs) {
    t.setAttribute('aria-selected', String(t === tab));
    t.tabIndex = t === tab ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = t !== tab;
  }
  if (focus) tab.focus();
  if (loaders[tab.dataset.tab]) loaders[tab.dataset.tab]();
}
const reloadActive = () => selectTab(tabs.find((t) => t.getAttribute('aria-selected') === 'true') || tabs[0]);

// ---------- images ----------
// Decodes a file into an off-screen canvas; the object URL is revoked as soon as the pixels are copied.
async function loadImage(file) {
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode().catch(() => { throw new Error('The browser cannot decode this file as an image.'); });
    const c = el('canvas', { width: img.naturalWidth, height: img.naturalHeight });
    c.getContext('2d').drawImage(img, 0, 0);
    return c;
  } finally { URL.revokeObjectURL(url); }
}
const sources = new Map(); // input id -> Promise<canvas>
const sourceFor = (id) => sources.get(id) || sources.set(id, loadImage($(id).files[0])).get(id);
// On submit: the server may accept a format this browser cannot preview; then drawing is skipped.
const maybeSource = (inputId) => sourceFor(inputId).catch(() => null);
function bindPreview(inputId, canvasId, statusId, clear) {
  const input = $(inputId);
  input.addEventListener('change', () => {
    const file = input.files[0];
    clear();
    hideStatus($(statusId));
    sources.delete(inputId);
    if (!file) { $(canvasId).hidden = true; return; }
    const p = sourceFor(inputId);
    p.then((src) => {
      if (sources.get(inputId) === p) paint($(canvasId), src, [], null, `Preview of ${file.name}`);
    }, (err) => showError($(statusId), err));
  });
}
// Draws src plus boxes, landmark dots and labels; resp {width,height} rescales server coordinates.
function paint(canvas, src, faces, resp, label) {
  if (!src) return;
  canvas.setAttribute('aria-label', label);
  Object.assign(canvas, { width: src.width, height: src.height });
  const sx = resp && resp.width ? src.width / resp.width : 1;
  const sy = resp && resp.height ? src.height / resp.height : 1;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(src, 0, 0);
  const s = Math.max(2, Math.round(Math.max(src.width, src.height) / 320));
  for (const f of faces) {
    if (!Array.isArray(f.box)) continue;
    const [x1, y1, x2, y2] = [f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy];
    Object.assign(ctx, { lineWidth: s, strokeStyle: f.color, fillStyle: f.color });
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    for (const [x, y] of f.landmarks || []) { ctx.beginPath(); ctx.arc(x * sx, y * sy, s * 1.4, 0, 2 * Math.PI); ctx.fill(); }
    if (!f.label) continue;
    ctx.font = `${s * 7}px system-ui, sans-serif`;
    const h = s * 10;
    const ty = y1 - h >= 0 ? y1 - h : Math.min(y2, src.height - h);
    ctx.fillRect(x1, ty, ctx.measureText(f.label).width + s * 4, h);
    Object.assign(ctx, { fillStyle: '#ffffff', textBaseline: 'middle' });
    ctx.fillText(f.label, x1 + s * 2, ty + h / 2);
  }
  canvas.hidden = false;
}
function imageForm(fields) { // {multipart field name: file input id}
  const fd = new FormData();
  for (const [name, inputId] of Object.entries(fields)) fd.append(name, $(inputId).files[0]);
  return fd;
}

// ---------- detect ----------
bindPreview('detect-file', 'detect-canvas', 'detect-status', () => $('detect-list').replaceChildren());
onSubmit('detect-form', 'detect-status', async () => {
  const src = await maybeSource('detect-file');
  const r = await api('POST', '/api/v1/detect', { form: imageForm({ file: 'detect-file' }) });
  paint($('detect-canvas'), src, r.faces.map((f, i) => ({ ...f, color: COLORS[i % COLORS.length], label: String(i + 1) })), r,
    `Image with ${plural(r.faces.length, 'detected face')}; details in the list below`);
  $('detect-list').replaceChildren(...r.faces.map((f, i) =>
    el('li', {}, swatch(i), `Face ${i + 1}: score ${num(f.score)}, box ${fmtBox(f.box)}`)));
  return `${plural(r.faces.length, 'face')} found in a ${r.width}×${r.height} image.`;
});

// ---------- verify ----------
const clearVerify = () => $('verify-result').replaceChildren();
bindPreview('verify-file1', 'verify-canvas1', 'verify-status', clearVerify);
bindPreview('verify-file2', 'verify-canvas2', 'verify-status', clearVerify);
onSubmit('verify-form', 'verify-status', async () => {
  const [s1, s2] = await Promise.all([maybeSource('verify-file1'), maybeSource('verify-file2')]);
  const r = await api('POST', '/api/v1/verify', { form: imageForm({ file1: 'verify-file1', file2: 'verify-file2' }) });
  const color = r.verified ? COLORS[2] : COLORS[1];
  paint($('verify-canvas1'), s1, r.face1 ? [{ ...r.face1, color, label: 'face 1' }] : [], null, 'First image, compared face boxed');
  paint($('verify-canvas2'), s2, r.face2 ? [{ ...r.face2, color, label: 'face 2' }] : [], null, 'Second image, compared face boxed');
  const below = typeof r.distance === 'number' && r.distance <= r.threshold;
  $('verify-result').replaceChildren(
    el('p', { class: `verdict ${r.verified ? 'yes' : 'no'}`, text: r.verified ? 'Same person' : 'Different people' }),
    el('p', { text: `Distance ${num(r.distance)} ${below ? '≤' : '>'} threshold ${num(r.threshold)} (metric: ${r.metric || '?'})` }),
    el('p', { text: `Similarity ${num(r.similarity)}` }),
    el('p', { class: 'hint', text: `Detection scores: face 1 ${num(r.face1 && r.face1.score)}, face 2 ${num(r.face2 && r.face2.score)}` }));
});

// ---------- recognize ----------
bindPreview('recognize-file', 'recognize-canvas', 'recognize-status', () => $('recognize-list').replaceChildren());
onSubmit('recognize-form', 'recognize-status', async () => {
  const src = await maybeSource('recognize-file');
  const limit = Math.min(Math.max(parseInt($('recognize-limit').value, 10) || 3, 1), 20);
  const r = await api('POST', `/api/v1/recognize?limit=${limit}`, { form: imageForm({ file: 'recognize-file' }) });
  const nameOf = (c) => c.name || c.subject;
  const items = [];
  const faces = r.faces.map((f, i) => {
    const cands = f.candidates || [];
    const best = cands[0];
    items.push(el('li', {}, swatch(best ? i : -1),
      el('strong', { text: `Face ${i + 1}: ${best ? nameOf(best) : 'unknown person'}` }), ` (detection score ${num(f.score)})`,
      cands.length ? el('ul', {}, cands.map((c) =>
        el('li', { text: `${nameOf(c)}: similarity ${num(c.similarity)}, distance ${num(c.distance)}` }))) : null));
    return { ...f, color: best ? COLORS[i % COLORS.length] : UNKNOWN_COLOR,
      label: best ? `${nameOf(best)} ${num(best.similarity, 2)}` : 'unknown' };
  });
  paint($('recognize-canvas'), src, faces, r, `Image with ${plural(faces.length, 'face')}; details in the list below`);
  $('recognize-list').replaceChildren(...items);
  const known = r.faces.filter((f) => f.candidates && f.candidates.length).length;
  return `${plural(r.faces.length, 'face')} found, ${known} recognised.`;
});

// ---------- paging + tables ----------
function setPager(prefix, st, shown, total) {
  $(`${prefix}-prev`).disabled = st.offset === 0;
  $(`${prefix}-next`).disabled = total != null ? st.offset + shown >= total : shown < st.limit;
  $(`${prefix}-range`).textContent = shown
    ? `${st.offset + 1}–${st.offset + shown}${total != null ? ` of ${total}` : ''}` : 'Nothing to show';
}
function bindPager(prefix, st, load) {
  $(`${prefix}-prev`).addEventListener('click', () => { st.offset = Math.max(0, st.offset - st.limit); load(); });
  $(`${prefix}-next`).addEventListener('click', () => { st.offset += st.limit; load(); });
  $(`${prefix}-refresh`).addEventListener('click', () => load());
}
function fillTable(tableId, rows, emptyText) {
  const cols = $(tableId).tHead.rows[0].cells.length;
  $(tableId).tBodies[0].replaceChildren(...(rows.length ? rows
    : [el('tr', {}, el('td', { colspan: cols, class: 'empty', text: emptyText }))]));
}
// Loads a list into a table; errors go to the list's own status box.
async function loadList(statusId, tableId, failText, fn) {
  try { await fn(); hideStatus($(statusId)); } catch (err) { showError($(statusId), err); fillTable(tableId, [], failText); }
}

// ---------- gallery ----------
const gallery = { offset: 0, limit: 50, open: null };
const loadSubjects = () => loadList('subjects-list-status', 'subjects-table', 'Could not load subjects.', async () => {
  let r = await api('GET', `/api/v1/subjects?offset=${gallery.offset}&limit=${gallery.limit}`);
  if (!r.subjects.length && gallery.offset > 0) { // page emptied by deletes: go back to the last page
    gallery.offset = Math.max(0, Math.floor((r.total - 1) / gallery.limit) * gallery.limit);
    r = await api('GET', `/api/v1/subjects?offset=${gallery.offset}&limit=${gallery.limit}`);
  }
  setPager('subjects', gallery, r.subjects.length, r.total);
  fillTable('subjects-table', r.subjects.map((s) => el('tr', {},
    el('td', {}, btn(s.name || s.id, () => openSubject(s), { class: 'link', 'aria-label': `Open subject ${s.name}` })),
    el('td', { text: String(s.face_count ?? '—') }),
    el('td', { text: when(s.created_at) }),
    el('td', { class: 'actions' },
      btn('Rename', () => renameSubject(s), { 'aria-label': `Rename ${s.name}` }),
      btn('Delete', () => deleteSubject(s), { class: 'danger', 'aria-label': `Delete ${s.name}` })))), 'No subjects yet.');
  const fresh = gallery.open && r.subjects.find((s) => s.id === gallery.open.id);
  if (fresh) showSubjectHeader(fresh);
});
bindPager('subjects', gallery, loadSubjects);
onSubmit('subject-create', 'gallery-status', async (form) => {
  const metadata = parseMetadata($('subject-metadata').value);
  const s = await api('POST', '/api/v1/subjects', { json: { name: $('subject-name').value.trim(), metadata } });
  form.reset();
  await loadSubjects();
  openSubject(s);
  return `Created subject “${s.name}”.`;
});
function renameSubject(s) {
  const name = (window.prompt(`New name for “${s.name}”:`, s.name) || '').trim();
  if (!name || name === s.name) return;
  busy(null, $('gallery-status'), async () => {
    await api('PATCH', `/api/v1/subjects/${enc(s.id)}`, { json: { name } });
    await loadSubjects();
    return `Renamed “${s.name}” to “${name}”.`;
  });
}
const deleteSubject = (s) => confirmThen(
  `Delete subject “${s.name}” and erase its ${plural(s.face_count || 0, 'enrolled face')}? This cannot be undone.`,
  'gallery-status', async () => {
    const r = await api('DELETE', `/api/v1/subjects/${enc(s.id)}`);
    if (gallery.open && gallery.open.id === s.id) closeSubject();
    await loadSubjects();
    return `Deleted “${s.name}”; ${plural(r.faces_erased || 0, 'face')} erased.`;
  });
function showSubjectHeader(s) {
  gallery.open = s;
  $('subject-title').textContent = `Subject: ${s.name}`;
  $('subject-id').textContent = s.id;
}
function openSubject(s) {
  showSubjectHeader(s);
  hideStatus($('detail-status'));
  $('subject-detail').hidden = false;
  $('subject-title').focus();
  $('subject-detail').scrollIntoView({ block: 'start', behavior: 'smooth' });
  loadFaces();
}
function closeSubject() { gallery.open = null; $('subject-detail').hidden = true; $('faces-list').replaceChildren(); }
$('subject-close').addEventListener('click', closeSubject);
$('faces-refresh').addEventListener('click', () => loadFaces());
async function loadFaces() {
  const id = gallery.open && gallery.open.id;
  if (!id) return;
  try {
    const r = await api('GET', `/api/v1/subjects/${enc(id)}/faces`);
    if (!gallery.open || gallery.open.id !== id) return;
    $('faces-list').replaceChildren(...(r.faces.length ? r.faces.map((f) => el('li', {},
      el('p', {}, 'Face ', el('code', { class: 'select', text: f.id })),
      el('p', { class: 'hint', text: `model ${f.model_version ?? '?'} · dim ${f.dim ?? '?'} · box ${fmtBox(f.box)} · ${when(f.created_at)}` }),
      btn('Delete face', () => deleteFace(f), { class: 'danger', 'aria-label': `Delete face ${f.id}` })))
      : [el('li', { class: 'empty', text: 'No faces enrolled yet.' })]));
  } catch (err) {
    showError($('detail-status'), err);
  }
}
const deleteFace = (f) => confirmThen(`Delete face ${f.id}? Its embedding will be erased.`, 'detail-status', async () => {
  await api('DELETE', `/api/v1/faces/${enc(f.id)}`);
  await Promise.all([loadFaces(), loadSubjects()]);
  return 'Face deleted.';
});
onSubmit('enroll-form', 'detail-status', async (form) => {
  const s = gallery.open;
  const r = await api('POST', `/api/v1/subjects/${enc(s.id)}/faces`, { form: imageForm({ file: 'enroll-file' }) });
  form.reset();
  await Promise.all([loadFaces(), loadSubjects()]);
  return `Enrolled face ${r.id} for “${s.name}”.`;
});

// ---------- keys ----------
const loadKeys = () => loadList('keys-list-status', 'keys-table', 'Could not load keys.', async () => {
  const r = await api('GET', '/api/v1/keys');
  fillTable('keys-table', r.keys.map((k) => el('tr', { class: k.revoked_at ? 'revoked' : null },
    el('td', {}, el('code', { class: 'select', text: k.id })),
    el('td', { text: k.role }),
    el('td', { text: k.label || '—' }),
    el('td', { text: when(k.created_at) }),
    el('td', { text: k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active' }),
    el('td', { class: 'actions' }, k.revoked_at ? null
      : btn('Revoke', () => revokeKey(k), { class: 'danger', 'aria-label': `Revoke key ${k.label || k.id}` })))), 'No keys.');
});
$('keys-refresh').addEventListener('click', () => loadKeys());
const revokeKey = (k) => confirmThen(
  `Revoke the ${k.role} key “${k.label || k.id}”? Anyone using it will be refused immediately.`, 'keys-status', async () => {
    await api('DELETE', `/api/v1/keys/${enc(k.id)}`);
    await loadKeys();
    return `Key ${k.id} revoked.`;
  });
onSubmit('key-create', 'keys-status', async (form) => {
  const r = await api('POST', '/api/v1/keys', { json: { role: $('new-key-role').value, label: $('new-key-label').value.trim() } });
  form.reset();
  $('secret-value').value = r.key;
  $('secret-copied').textContent = '';
  $('secret-box').hidden = false;
  $('secret-value').select();
  await loadKeys();
  return `Created ${r.role} key ${r.id}.`;
});
function hideSecret() { $('secret-value').value = ''; $('secret-box').hidden = true; }
$('secret-done').addEventListener('click', hideSecret);
$('secret-copy').addEventListener('click', async () => {
  const input = $('secret-value');
  let ok = true;
  try { await navigator.clipboard.writeText(input.value); } catch { input.select(); ok = document.execCommand('copy'); }
  $('secret-copied').textContent = ok ? 'Copied to the clipboard.' : 'Copy failed: select the key and copy it manually.';
});

// ---------- audit ----------
const audit = { offset: 0, limit: 100 };
const cell = (v) => el('td', { text: v == null || v === '' ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v) });
const loadAudit = () => loadList('audit-list-status', 'audit-table', 'Could not load the audit log.', async () => {
  const r = await api('GET', `/api/v1/audit?offset=${audit.offset}&limit=${audit.limit}`);
  setPager('audit', audit, r.entries.length, null);
  fillTable('audit-table', r.entries.map((e) => el('tr', {},
    cell(e.seq), cell(when(e.at)), cell(e.actor), cell(e.action), cell(e.target), cell(e.outcome),
    el('td', {}, el('code', { class: 'select', text: e.request_id || '—' })),
    el('td', { title: `hash ${e.hash}\nprev ${e.prev_hash}` }, el('code', { text: e.hash ? `${String(e.hash).slice(0, 10)}…` : '—' })))),
  'No entries.');
});
bindPager('audit', audit, loadAudit);
$('audit-verify').addEventListener('click', (e) => busy(e.currentTarget, $('audit-status'), async () => {
  const r = await api('GET', '/api/v1/audit/verify');
  if (r && r.intact) return `Chain intact: ${plural(r.rows, 'row')} verified.`;
  throw new ApiError(200, { error: { code: 'audit_broken', message: 'The server reported the chain as not intact.' } });
}));

// ---------- start ----------
$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if ($('api-key').value.trim()) sessionStorage.setItem(KEY_STORE, $('api-key').value.trim());
  $('api-key').value = '';
  refreshKeyState();
  reloadActive();
});
$('forget-key').addEventListener('click', () => { // also drop whatever the key allowed us to see
  sessionStorage.removeItem(KEY_STORE);
  $('api-key').value = '';
  hideSecret();
  closeSubject();
  for (const t of ['subjects-table', 'keys-table', 'audit-table']) fillTable(t, [], 'Enter an API key to load this list.');
  refreshKeyState();
});
tabs.forEach((t, i) => {
  t.addEventListener('click', () => selectTab(t));
  t.addEventListener('keydown', (e) => {
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length], true);
  });
});
refreshKeyState();
checkReady();
setInterval(checkReady, 30000);
selectTab(tabs[0]);
