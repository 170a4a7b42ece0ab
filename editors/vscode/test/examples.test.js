// The grammar on the repository's examples: every character of every
// example gets a scope of its own (keyword, name, string, comment,
// operator, ...), so nothing in a real .sync file is left unhighlighted.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const root = path.join(__dirname, '..', '..', '..');
const grammarPath = path.join(__dirname, '..', 'syntaxes', 'synclang.tmLanguage.json');

function examples(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return examples(p);
    return e.name.endsWith('.sync') ? [p] : [];
  });
}

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath),
  });
  return registry.loadGrammar('source.synclang');
}

test('every character of the examples is highlighted', { timeout: 60000 }, async () => {
  const grammar = await loadGrammar();
  const files = examples(path.join(root, 'examples'));
  assert.ok(files.length >= 3, `examples found: ${files}`);
  for (const file of files) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    let state = vsctm.INITIAL;
    lines.forEach((line, i) => {
      const r = grammar.tokenizeLine(line, state);
      for (const tok of r.tokens) {
        const text = line.slice(tok.startIndex, tok.endIndex);
        if (text.trim() === '') continue;
        assert.ok(tok.scopes.length > 1,
          `${path.relative(root, file)}:${i + 1}:${tok.startIndex + 1}: ${JSON.stringify(text)} has no scope`);
      }
      state = r.ruleStack;
    });
  }
});
