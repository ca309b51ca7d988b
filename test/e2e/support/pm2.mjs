export async function runPm2Reload () { throw new Error('todo') }
