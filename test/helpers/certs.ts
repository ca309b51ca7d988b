import { generate } from 'selfsigned'

/** A self-signed certificate for 127.0.0.1, made at test time in-process (no openssl needed): no private key is ever committed. */
export async function makeCertificate (): Promise<{ key: string, cert: string }> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 86_400_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]
  })
  return { key: pems.private, cert: pems.cert }
}
