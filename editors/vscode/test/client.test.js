// synclang lsp driven by a client nobody here wrote: the protocol
// implementation VS Code itself uses (vscode-languageserver-protocol over
// vscode-jsonrpc). It opens an example, introduces a typo, receives the
// diagnostic with its range and suggestion, applies the server's code
// action and receives no diagnostics.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { pathToFileURL } = require('node:url');
const rpc = require('vscode-languageserver-protocol/node');

const root = path.join(__dirname, '..', '..', '..');
const WAIT_MS = 60000; // per awaited answer: generous, for a loaded CI machine

// synclangBinary is $SYNCLANG, or a binary built from this checkout.
function synclangBinary(dir) {
  if (process.env.SYNCLANG) return process.env.SYNCLANG;
  const bin = path.join(dir, 'synclang');
  execFileSync('go', ['build', '-o', bin, './cmd/synclang'], { cwd: root, stdio: 'inherit' });
  return bin;
}

// applyEdits applies LSP text edits (UTF-16 positions) to a text.
function applyEdits(text, edits) {
  const lines = text.split('\n');
  const offset = (p) => lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  return [...edits]
    .sort((a, b) => offset(b.range.start) - offset(a.range.start))
    .reduce((t, e) => t.slice(0, offset(e.range.start)) + e.newText + t.slice(offset(e.range.end)), text);
}

test('typo, diagnostic, code action, clean', { timeout: 300000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synclang-lsp-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = synclangBinary(dir);
  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  const file = path.join(project, 'contacts.sync');
  const text = fs.readFileSync(path.join(root, 'examples', 'contacts.sync'), 'utf8');
  fs.writeFileSync(file, text);
  const uri = pathToFileURL(file).href;

  const proc = spawn(bin, ['lsp'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  t.after(() => proc.kill());
  const conn = rpc.createProtocolConnection(new rpc.StreamMessageReader(proc.stdout), new rpc.StreamMessageWriter(proc.stdin));
  const published = [];
  let notify = () => {};
  conn.onNotification(rpc.PublishDiagnosticsNotification.type, (p) => { published.push(p); notify(); });
  conn.listen();

  // diagnostics waits for the diagnostics of a version of the document.
  const diagnostics = (version) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no diagnostics for version ${version} in ${WAIT_MS} ms`)), WAIT_MS);
    const check = () => {
      const p = published.filter((d) => d.uri === uri && d.version === version).pop();
      if (p) { clearTimeout(timer); notify = () => {}; resolve(p.diagnostics); }
    };
    notify = check;
    check();
  });

  const init = await conn.sendRequest(rpc.InitializeRequest.type, {
    processId: process.pid, rootUri: pathToFileURL(project).href, workspaceFolders: null,
    capabilities: { textDocument: { publishDiagnostics: { relatedInformation: true, versionSupport: true } } },
  });
  assert.strictEqual(init.capabilities.codeActionProvider.codeActionKinds[0], 'quickfix');
  conn.sendNotification(rpc.InitializedNotification.type, {});
  conn.sendNotification(rpc.DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'synclang', version: 1, text } });
  assert.deepStrictEqual(await diagnostics(1), []);

  // The typo, as an editor sends it: an incremental change of one line.
  const lines = text.split('\n');
  const line = lines.findIndex((l) => /^\s*emailaddress1\s+<->\s+email\s*$/.test(l));
  assert.ok(line >= 0, 'the example maps emailaddress1 <-> email');
  const character = lines[line].indexOf('emailaddress1');
  const typoRange = { start: { line, character }, end: { line, character: character + 'emailaddress1'.length } };
  conn.sendNotification(rpc.DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 2 }, contentChanges: [{ range: typoRange, text: 'emailadress1' }],
  });
  const typoText = applyEdits(text, [{ range: typoRange, newText: 'emailadress1' }]);
  const diags = await diagnostics(2);
  assert.strictEqual(diags.length, 1, JSON.stringify(diags));
  const d = diags[0];
  assert.strictEqual(d.code, 'unknown-field');
  assert.strictEqual(d.severity, rpc.DiagnosticSeverity.Error);
  assert.deepStrictEqual(d.range, { start: { line, character }, end: { line, character: character + 'emailadress1'.length } });
  assert.match(d.message, /Did you mean "emailaddress1"\?/);

  const actions = await conn.sendRequest(rpc.CodeActionRequest.type, {
    textDocument: { uri }, range: d.range, context: { diagnostics: [d], only: ['quickfix'] },
  });
  assert.strictEqual(actions.length, 1, JSON.stringify(actions));
  assert.strictEqual(actions[0].title, 'Change to emailaddress1');
  const fixed = applyEdits(typoText, actions[0].edit.changes[uri]);
  assert.strictEqual(fixed, text);
  conn.sendNotification(rpc.DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 3 }, contentChanges: [{ text: fixed }] });
  assert.deepStrictEqual(await diagnostics(3), []);

  await conn.sendRequest(rpc.ShutdownRequest.type);
  conn.sendNotification(rpc.ExitNotification.type);
  assert.strictEqual(await exited, 0);
  conn.dispose();
});
