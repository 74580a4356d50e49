#!/usr/bin/env node
// Builds the Debian packages (npm run deb), split as the Go original:
//
//   vpp-maglev   maglevc and maglevt (a jump host needs only these), and the
//                runtime under /usr/lib/vpp-maglev: a private Node (the one
//                running this script) and package.json;
//   vpp-maglevd  maglevd, maglevd-frontend (when src/frontend/main.ts exists),
//                the native addon, the systemd units, the conffiles
//                /etc/vpp-maglev/maglev.yaml and /etc/default/vpp-maglev, and
//                the man pages; it depends on vpp-maglev of the same version.
//
//   node packaging/deb.mjs [--outdir build] [--compress xz|gzip|none] [--node PATH]
//
// The programs are esbuild bundles (packaging/bundle.mjs): NAME.cjs, started
// by NAME.js (first line `#!/usr/lib/vpp-maglev/node`; /usr/bin/maglevc and
// friends are symlinks to it) with V8's code cache NAME.v8cache, made here by
// running each program once with the Node that ships (a third off the start). Debian 12 has Node 18, so Node ships inside the package: the one
// binary every program shares (Node's single-executable applications would be
// one ~100 MB copy per program). It needs only glibc >= 2.28 and libstdc++,
// so the same .deb installs on Debian 12 and 13. The architecture is the
// build machine's (dpkg --print-architecture): the Node binary and the addon
// are native code, so an arm64 package is built on an arm64 machine.
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import * as zlib from "node:zlib"
import { bundle, writeCodeCaches } from "./bundle.mjs"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "..")
const LIB = "usr/lib/vpp-maglev"
const MAINTAINER = "vpp-maglev maintainers <maintainers@users.noreply.b-seed-c011d420.example>"

const run = (cmd, args, options = {}) => (execFileSync(cmd, args, { encoding: "utf8", ...options }) ?? "").trim()

const write = (file, contents, mode = 0o644) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, contents)
  fs.chmodSync(file, mode)
}
const copy = (from, to, mode = 0o644) => write(to, fs.readFileSync(from), mode)
/** gzip -9n, as Debian wants man pages and changelogs (no name, no time stamp: reproducible). */
const gzip = (from, to) => write(to, zlib.gzipSync(fs.readFileSync(from), { level: 9 }))
const gzipText = (text, to) => write(to, zlib.gzipSync(Buffer.from(text), { level: 9 }))
const symlink = (target, link) => {
  fs.mkdirSync(path.dirname(link), { recursive: true })
  fs.symlinkSync(target, link)
}

const copyTree = (from, to) => {
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyTree(path.join(from, e.name), path.join(to, e.name))
    else if (e.isFile()) copy(path.join(from, e.name), path.join(to, e.name))
  }
}

/**
 * A unit file as shipped: a Documentation=man:PAGE line only when that man page
 * ships (systemd-analyze verify checks it), so a program whose page is not
 * written yet still gets a unit that verifies.
 */
const unitText = (unit) =>
  fs.readFileSync(path.join(here, "systemd", unit), "utf8").split("\n").filter((line) => {
    const m = /^Documentation=man:([\w-]+)\((\d)\)$/.exec(line)
    if (m === null || fs.existsSync(path.join(root, "docs", `${m[1]}.${m[2]}`))) return true
    console.warn(`${unit}: no docs/${m[1]}.${m[2]}, so no Documentation=man:${m[1]}(${m[2]})`)
    return false
  }).join("\n")

/** Strips debug symbols (Node's own binary carries ~20 MB of them); a copy is kept when strip is absent. */
const stripCopy = (from, to) => {
  copy(from, to, 0o755)
  try {
    run("strip", ["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", to])
  } catch (e) {
    console.warn(`strip ${path.basename(to)}: ${e.message.split("\n")[0]} (shipped unstripped)`)
  }
}

/**
 * The glibc a binary needs: the newest GLIBC_x.y symbol version it uses
 * (objdump -T), or `fallback` when binutils is missing.
 */
const glibcNeeded = (file, fallback) => {
  try {
    const versions = [...run("objdump", ["-T", file]).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
    if (versions.length === 0) return fallback
    const [major, minor] = versions.reduce((a, b) => (a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]) ? a : b))
    return `${major}.${minor}`
  } catch {
    return fallback
  }
}

/** The packages bundled into the programs, with their licence and copyright line, for debian/copyright. */
const bundledPackages = (metafile) => {
  const names = new Set()
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (m) names.add(m[1])
  }
  return [...names].sort().map((name) => {
    const dir = path.join(root, "node_modules", name)
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
    const licenseFile = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f))
    const text = licenseFile ? fs.readFileSync(path.join(dir, licenseFile), "utf8") : ""
    const holder = /^\s*(?:\(c\)\s*)?copyright.*$/im.exec(text)?.[0].trim()
    return { name, version: pkg.version, license: pkg.license ?? "unknown", holder: holder ?? "its authors" }
  })
}

/** A text as the continuation lines of a debian/control-style field: each line indented, blank lines " .". */
/** Node's LICENSE file (the licences of Node and of the libraries it includes), as installed beside the binary. */
const nodeLicense = (node) => {
  const prefix = path.resolve(path.dirname(fs.realpathSync(node)), "..")
  // NodeSource's package, a source build's `make install`, the official tarball, Debian's own nodejs.
  const found = [
    path.join(prefix, "share", "doc", "nodejs", "LICENSE"),
    path.join(prefix, "share", "doc", "node", "LICENSE"),
    path.join(prefix, "LICENSE"),
    path.join(prefix, "share", "doc", "nodejs", "copyright")
  ].find((f) => fs.existsSync(f))
  if (found === undefined) throw new Error(`Node's LICENSE file not found under ${prefix}/share/doc: it must ship with Node`)
  return found
}

const copyright = (packages) => {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vpp-maglev

Files: *
Copyright: 2026 the vpp-maglev authors
License: Apache-2.0

Files: ${LIB}/*.js
Copyright: 2026 the vpp-maglev authors, and the authors of the bundled packages
License: Apache-2.0 and MIT and ISC
Comment: The programs are esbuild bundles of vpp-maglev and these npm packages
 (name, version, licence, copyright line of its licence file):
${packages.map((p) => `  ${p.name} ${p.version} (${p.license}): ${p.holder}`).join("\n")}

Files: ${LIB}/node
Copyright: Node.js contributors, Joyent, Inc. and other Node contributors, and
 the authors of the libraries Node.js includes (listed in its licence below)
License: Node.js
Comment: The Node.js ${process.version} runtime, shipped privately because
 Debian 12 has Node 18 and vpp-maglev needs Node 20.

License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to
 deal in the Software without restriction, including without limitation the
 rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
 sell copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
 IN THE SOFTWARE.

License: ISC
 Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

License: Node.js
 The licence of Node.js and of every library it includes (OpenSSL, ICU, V8,
 libuv, zlib, ...) is Node's LICENSE file, installed as
 /usr/share/doc/vpp-maglev/node-LICENSE.gz.
`
}

const changelog = (pkg, info) => {
  const date = new Date(info.commitDate === "unknown" ? Date.now() : info.commitDate).toUTCString().replace("GMT", "+0000")
  return `${pkg} (${info.version}) unstable; urgency=medium

  * vpp-maglev ${info.version}, commit ${info.commit}.

 -- ${MAINTAINER}  ${date}
`
}

/** The lintian overrides, each with the reason lintian cannot see. */
const overrides = {
  "vpp-maglev": `# The programs run on the private Node.js this package ships
# (/usr/lib/vpp-maglev/node): Debian 12's nodejs is 18, vpp-maglev needs 20.
vpp-maglev: wrong-path-for-interpreter /usr/lib/vpp-maglev/node != /usr/bin/node *
vpp-maglev: missing-dep-for-interpreter /usr/lib/vpp-maglev/node (does not satisfy nodejs:any) *
# That Node binary is upstream's build (NodeSource), copied as it is (debug
# symbols stripped): its hardening flags, the libraries it links statically
# (zlib, OpenSSL, ICU, ...) and the spelling of its strings are Node's, not
# ours to change.
vpp-maglev: hardening-no-pie [usr/lib/vpp-maglev/node]
vpp-maglev: embedded-library zlib [usr/lib/vpp-maglev/node]
vpp-maglev: hardening-no-fortify-functions [usr/lib/vpp-maglev/node]
vpp-maglev: spelling-error-in-binary * [usr/lib/vpp-maglev/node]
`,
  "vpp-maglevd": `# maglevd runs on the private Node.js of vpp-maglev (a dependency of this
# package, same version): Debian 12's nodejs is 18, vpp-maglev needs 20.
vpp-maglevd: wrong-path-for-interpreter /usr/lib/vpp-maglev/node != /usr/bin/node *
vpp-maglevd: missing-dep-for-interpreter /usr/lib/vpp-maglev/node (does not satisfy nodejs:any) *
# systemd is the only init the daemon is packaged for (as the Go original).
vpp-maglevd: package-supports-alternative-init-but-no-init.d-script *
`
}

const control = ({ name, arch, version, depends, description, size }) =>
  `Package: ${name}
Version: ${version}
Architecture: ${arch}
Maintainer: ${MAINTAINER}
Installed-Size: ${size}
Depends: ${depends}
Section: net
Priority: optional
Description: ${description}
`

/** DEBIAN/md5sums: every regular file outside DEBIAN (and /etc: conffiles have their own sums), as dh_md5sums writes it. */
const md5sums = (dir) => {
  const lines = []
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`
      if (r === "DEBIAN" || r === "etc") continue
      if (e.isDirectory()) walk(r)
      else if (e.isFile()) lines.push(`${crypto.createHash("md5").update(fs.readFileSync(path.join(dir, r))).digest("hex")}  ${r}`)
    }
  }
  walk("")
  return lines.join("\n") + "\n"
}

const installedSize = (dir) => Number(run("du", ["-sk", "--exclude=DEBIAN", dir]).split(/\s+/)[0])

/** Directories 0755, files as written; dpkg-deb --root-owner-group makes everything root:root. */
const normalize = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) {
      fs.chmodSync(p, 0o755)
      normalize(p)
    }
  }
}

export const buildDebs = async ({ outdir, compress = "xz", node = process.execPath }) => {
  const arch = run("dpkg", ["--print-architecture"])
  const addon = path.join(root, "native", "build", "Release", "vppmaglev_native.node")
  if (!fs.existsSync(addon)) run(process.execPath, [path.join(root, "native", "build.mjs")], { stdio: "inherit" })
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "vpp-maglev-deb-"))
  try {
    const bundles = path.join(stage, "bundle")
    const { info, metafile, programs } = await bundle({ outdir: bundles, node: `/${LIB}/node` })
    // V8 code caches made by the Node that ships, so they are accepted where the packages install.
    writeCodeCaches(bundles, programs, node)
    /** A program: its launcher (the executable), its bundle and its code cache. */
    const program = (p, to) => {
      copy(path.join(bundles, `${p}.js`), path.join(to, LIB, `${p}.js`), 0o755)
      for (const ext of ["cjs", "v8cache"]) copy(path.join(bundles, `${p}.${ext}`), path.join(to, LIB, `${p}.${ext}`))
    }
    const hasFrontend = fs.existsSync(path.join(bundles, "maglevd-frontend.js"))
    const text = copyright(bundledPackages(metafile))
    const man = (page, to) => gzip(path.join(root, "docs", page), path.join(to, "usr/share/man", `man${page.slice(-1)}`, `${page}.gz`))
    const docs = (pkg, to) => {
      write(path.join(to, "usr/share/doc", pkg, "copyright"), text)
      gzipText(changelog(pkg, info), path.join(to, "usr/share/doc", pkg, "changelog.gz"))
      write(path.join(to, "usr/share/lintian/overrides", pkg), overrides[pkg])
    }

    // vpp-maglev: the CLI, the VIP prober and the runtime.
    const c = path.join(stage, "vpp-maglev")
    stripCopy(fs.realpathSync(node), path.join(c, LIB, "node"))
    gzip(nodeLicense(node), path.join(c, "usr/share/doc/vpp-maglev/node-LICENSE.gz"))
    write(path.join(c, LIB, "package.json"), JSON.stringify({ name: "vpp-maglev", version: info.version, type: "module", private: true }, null, 2) + "\n")
    copy(path.join(bundles, "build-info.json"), path.join(c, LIB, "build-info.json"))
    copy(path.join(bundles, "launch.cjs"), path.join(c, LIB, "launch.cjs"))
    for (const p of ["maglevc", "maglevt"]) {
      program(p, c)
      symlink(`../lib/vpp-maglev/${p}.js`, path.join(c, "usr/bin", p))
      man(`${p}.1`, c)
    }
    docs("vpp-maglev", c)

    // vpp-maglevd: the daemons, the addon, the units, the configuration.
    const d = path.join(stage, "vpp-maglevd")
    const daemons = ["maglevd", ...(hasFrontend ? ["maglevd-frontend"] : [])]
    for (const p of daemons) {
      program(p, d)
      symlink(`../lib/vpp-maglev/${p}.js`, path.join(d, "usr/sbin", p))
      if (fs.existsSync(path.join(root, "docs", `${p}.8`))) man(`${p}.8`, d)
    }
    for (const w of ["CheckWorker.js", "ProbeWorker.js", "ScrapeWorker.js"]) copy(path.join(bundles, w), path.join(d, LIB, w))
    stripCopy(addon, path.join(d, LIB, "vppmaglev_native.node"))
    fs.chmodSync(path.join(d, LIB, "vppmaglev_native.node"), 0o644)
    const units = ["vpp-maglevd.service", ...(hasFrontend ? ["vpp-maglevd-frontend.service"] : [])]
    for (const u of units) write(path.join(d, "lib/systemd/system", u), unitText(u))
    if (hasFrontend) {
      // The dashboard's browser app (web/dist, built and committed); the unit points maglevd-frontend at it.
      copyTree(path.join(root, "web", "dist"), path.join(d, "usr/share/vpp-maglev/web"))
    }
    copy(path.join(here, "etc", "maglev.yaml"), path.join(d, "etc/vpp-maglev/maglev.yaml"))
    copy(path.join(here, "etc", "default-vpp-maglev"), path.join(d, "etc/default/vpp-maglev"))
    docs("vpp-maglevd", d)
    const docDir = path.join(d, "usr/share/doc/vpp-maglevd")
    copy(path.join(here, "systemd", "netns.conf"), path.join(docDir, "examples", "netns.conf"))
    copy(path.join(root, "examples", "maglev.yaml"), path.join(docDir, "examples", "maglev.yaml"))
    for (const g of ["user-guide.md", "config-guide.md", "healthchecks.md", "metrics.md", "api.md"]) {
      gzip(path.join(root, "docs", g), path.join(docDir, `${g}.gz`))
    }
    write(path.join(d, "DEBIAN", "conffiles"), "/etc/vpp-maglev/maglev.yaml\n/etc/default/vpp-maglev\n")
    const frontendPostinst = hasFrontend
      ? `# vpp-maglevd-frontend.service: installed, not enabled (systemctl enable --now vpp-maglevd-frontend).
	if deb-systemd-helper debian-installed 'vpp-maglevd-frontend.service'; then
		deb-systemd-helper unmask 'vpp-maglevd-frontend.service' >/dev/null || true
		if deb-systemd-helper --quiet was-enabled 'vpp-maglevd-frontend.service'; then
			deb-systemd-helper enable 'vpp-maglevd-frontend.service' >/dev/null || true
		fi
	fi
	deb-systemd-helper update-state 'vpp-maglevd-frontend.service' >/dev/null || true`
      : ""
    const script = (name) =>
      fs.readFileSync(path.join(here, "debian", "vpp-maglevd", name), "utf8")
        .replace("#FRONTEND#", frontendPostinst)
        .replace(/#UNITS#/g, units.map((u) => `'${u}'`).join(" "))
    for (const s of ["postinst", "prerm", "postrm"]) write(path.join(d, "DEBIAN", s), script(s), 0o755)

    const debs = []
    for (const [dir, name, depends, description] of [
      [c, "vpp-maglev", `libc6 (>= ${glibcNeeded(path.join(c, LIB, "node"), "2.28")}), libgcc-s1 (>= 3.4), libstdc++6 (>= 5.2)`,
        `client tools of vpp-maglev: maglevc and maglevt
 The command-line client of maglevd (maglevc: one-shot commands or an
 interactive shell) and maglevt, which probes every frontend's VIP of a
 maglev.yaml from outside as clients reach it. Includes the private Node.js
 runtime all vpp-maglev programs run on.`],
      [d, "vpp-maglevd", `vpp-maglev (= ${info.version}), adduser, libc6 (>= ${glibcNeeded(path.join(d, LIB, "vppmaglev_native.node"), "2.33")})`,
        `vpp-maglev daemon: health checks and VPP lb (Maglev) programming
 maglevd probes backends (HTTP, HTTPS, TCP, ICMP), keeps a health state per
 backend and programs VPP's lb plugin over its binary API so that new flows
 only go to healthy backends.${hasFrontend ? " maglevd-frontend is its web dashboard." : ""}
 Ships the systemd units, /etc/vpp-maglev/maglev.yaml and
 /etc/default/vpp-maglev.`]
    ]) {
      normalize(dir)
      write(path.join(dir, "DEBIAN", "md5sums"), md5sums(dir))
      write(path.join(dir, "DEBIAN", "control"), control({ name, arch, version: info.version, depends, description, size: installedSize(dir) }))
      fs.chmodSync(path.join(dir, "DEBIAN"), 0o755)
      fs.mkdirSync(outdir, { recursive: true })
      const deb = path.join(outdir, `${name}_${info.version}_${arch}.deb`)
      run("dpkg-deb", ["--root-owner-group", `-Z${compress}`, "--build", dir, deb], { stdio: ["ignore", "pipe", "inherit"] })
      debs.push(deb)
    }
    return { info, arch, debs }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      outdir: { type: "string", default: path.join(root, "build") },
      compress: { type: "string", default: "xz" },
      node: { type: "string" }
    }
  })
  const { info, debs } = await buildDebs({ outdir: path.resolve(values.outdir), compress: values.compress, node: values.node })
  for (const deb of debs) console.log(`${path.relative(process.cwd(), deb)}  (${(fs.statSync(deb).size / 1e6).toFixed(1)} MB)`)
  console.log(`vpp-maglev ${info.version}, commit ${info.commit}`)
}
