// The synclang extension: highlighting comes from the TextMate grammar in
// syntaxes/; everything else from `synclang lsp`, started over stdio.
'use strict';
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('synclang').get('path') || 'synclang';
  const serverOptions = { command, args: ['lsp'], transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'synclang' }],
    // Schema snapshots and other .sync files of a project change what a
    // file's diagnostics say.
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{sync,schema.json}') },
  };
  client = new LanguageClient('synclang', 'synclang', serverOptions, clientOptions);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
