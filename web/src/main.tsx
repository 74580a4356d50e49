import { render } from "preact"
import { App } from "./App.js"
import { Store } from "./store.js"
import "./style.css"

// Every URL is relative to where the page was loaded from: /view/ or /admin/.
const admin = /\/admin\/?/.test(location.pathname)
const store = new Store("")
void store.start()
addEventListener("pagehide", () => store.stop())
render(<App store={store} admin={admin} />, document.getElementById("app")!)
