// r2pipe from the npm registry against an =h server: the client radare2 users script with.
// usage: node r2pipe.js http://127.0.0.1:PORT/cmd/ CMD...
// Prints a JSON array of the outputs, in order, or exits 1 with the error.
'use strict';
const r2pipe = require('r2pipe');

const [url, ...cmds] = process.argv.slice(2);
const timer = setTimeout(() => { console.error('r2pipe: no answer within 20 s'); process.exit(1); }, 20000);

r2pipe.connect(url, async (err, r2) => {
  if (err) {
    console.error('r2pipe.connect: ' + err);
    process.exit(1);
  }
  const outs = [];
  try {
    for (const c of cmds) {
      outs.push(await new Promise((resolve, reject) => r2.cmd(c, (e, out) => (e ? reject(e) : resolve(out)))));
    }
  } catch (e) {
    console.error('r2pipe: ' + e);
    process.exit(1);
  }
  clearTimeout(timer);
  console.log(JSON.stringify(outs));
  process.exit(0);
});
