import { spawnSync } from 'node:child_process'

/** Under CI the end-to-end tests are required; on a developer's machine they may lack a system package. */
export const required = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI)

/**
 * Whether `command` runs (`command ...args` exits 0). Missing: a reason to pass as tap's `skip` on a fresh
 * machine, so the skip is printed with the install line; under CI it throws, the test file fails.
 */
export function missing (command: string, { args = ['-v'], install = command }: { args?: string[], install?: string } = {}): string | false {
  const res = spawnSync(command, args, { stdio: 'ignore' })
  if (res.error === undefined && res.status === 0) return false
  const reason = `${command} is not on PATH (Debian/Ubuntu: apt-get install -y ${install}; .ci/run installs it)`
  if (required) throw new Error(`${reason}: required when CI is set`)
  return reason
}
