// Preloaded (--import) into upstreams we do not control (server-everything
// listens on every interface): every listen() binds 127.0.0.1, and the port
// actually bound is printed as "bench-listening <port>" on stderr.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined) args[0] = { ...first, host: '127.0.0.1' };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    const rest = args.slice(1);
    if (typeof rest[0] === 'string') rest.shift();
    args = [Number(first), '127.0.0.1', ...rest];
  }
  this.once('listening', () => {
    const a = this.address();
    if (a && typeof a === 'object') process.stderr.write(`bench-listening ${a.port}\n`);
  });
  return listen.apply(this, args);
};
