/**
 * The worker thread behind `checkConfigTextOffThread` (OffThread.ts): one
 * check of the text it is given, posted back encoded (Transfer.ts), then it
 * ends. Nothing here may use `import.meta`: under tsx (development, tests)
 * this file is loaded through tsx's CommonJS hook.
 */
import { parentPort, workerData } from "node:worker_threads"
import { checkConfigText } from "../Check.js"
import { encode } from "./Transfer.js"

const { text, file } = workerData as { readonly text: string; readonly file: string | undefined }
parentPort!.postMessage(encode(checkConfigText(text, { file })))
