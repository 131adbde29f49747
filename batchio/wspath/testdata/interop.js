// A standard WebSocket client (the npm "ws" package) against a wspath Listener that echoes:
// upgrade, ping -> pong, a binary message echoed back, a clean close. Prints one line per step.
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2], { origin: 'https://ok.example' });
ws.binaryType = 'nodebuffer';
const fail = (why) => { console.log('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timeout'), 10000).unref();
ws.on('open', () => { console.log('open'); ws.ping(Buffer.from('hi')); });
ws.on('pong', (data) => { console.log('pong ' + data.toString()); ws.send(Buffer.from([1, 2, 3, 250])); });
ws.on('message', (data, isBinary) => {
  console.log('echo ' + (isBinary ? 'binary ' : 'text ') + data.toString('hex'));
  ws.close(1000, 'done');
});
ws.on('close', (code) => { console.log('close ' + code); process.exit(0); });
ws.on('error', (err) => fail(err.message));
