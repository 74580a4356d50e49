/** POSIX signals as a stream: the handler is installed while the stream is consumed. */
import { Effect, Stream } from "effect"

export const signals = (signal: NodeJS.Signals): Stream.Stream<NodeJS.Signals> =>
  Stream.async<NodeJS.Signals>((emit) => {
    const handler = () => void emit.single(signal)
    process.on(signal, handler)
    return Effect.sync(() => process.off(signal, handler))
  })
