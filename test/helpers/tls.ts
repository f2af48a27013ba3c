/**
 * A test certificate authority and an HTTPS server on the loopback signed by it, for the
 * jail's TLS checks. The server runs in a process of its own: the tests wait on the jail
 * synchronously, and the server must answer meanwhile.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCa {
  /** The CA's certificate (PEM). */
  caPem: string;
  serverCert: string;
  serverKey: string;
}

/** A CA and a server certificate for `names` (and 127.0.0.1), signed by it. */
export const makeTestCa = (dir: string, names: readonly string[] = ['localhost']): TestCa => {
  const at = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']});
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', '/CN=nix-overlay-jail test CA');
  openssl('req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(at('ext'), `subjectAltName=${names.map(name => `DNS:${name}`).join(',')},IP:127.0.0.1\n`);
  openssl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('ext'));
  return {caPem: fs.readFileSync(at('ca.pem'), 'utf8'), serverCert: at('server.pem'), serverKey: at('server.key')};
};

const SERVER = `
const https = require('node:https');
const fs = require('node:fs');
const server = https.createServer({cert: fs.readFileSync(process.argv[1]), key: fs.readFileSync(process.argv[2])}, (request, response) => {
  response.end(process.argv[5] ?? 'hello from the host\\n');
});
server.listen(Number(process.argv[4] ?? 0), process.argv[3] ?? '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

export interface HttpsServer {
  port: number;
  stop: () => void;
}

/** An HTTPS server on `host`:`port` (127.0.0.1 and a free port) answering every request with `answer`. */
export const startHttpsServer = async (ca: TestCa, host = '127.0.0.1', port = 0, answer = 'hello from the host\n'): Promise<HttpsServer> => {
  const child: ChildProcess = spawn(process.execPath, ['-e', SERVER, ca.serverCert, ca.serverKey, host, String(port), answer], {stdio: ['ignore', 'pipe', 'inherit']});
  const listening = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) resolve(Number(output.trim()));
    });
    child.on('exit', code => reject(new Error(`the HTTPS server ended (${code})`)));
  });
  child.removeAllListeners('exit');
  // The server says nothing more; neither it nor its pipe may keep the test process alive (it
  // is killed when the tests end).
  child.stdout!.destroy();
  child.unref();
  return {port: listening, stop: () => child.kill('SIGKILL')};
};
