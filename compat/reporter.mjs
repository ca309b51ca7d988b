// A node:test reporter that writes one JSON line per finished test: its file, its path of names, and how it ended.
export default async function * lines (source) {
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue
    const outcome = type === 'test:pass' ? (data.skip !== undefined ? 'skip' : data.todo !== undefined ? 'todo' : 'pass') : 'fail'
    const error = data.details?.error
    yield JSON.stringify({
      file: data.file,
      nesting: data.nesting,
      name: data.name,
      outcome,
      ms: data.details?.duration_ms === undefined ? undefined : Math.round(data.details.duration_ms),
      failureType: error?.failureType,
      message: error === undefined ? undefined : String(error.cause?.message ?? error.message).split('\n')[0].slice(0, 200)
    }) + '\n'
  }
}
