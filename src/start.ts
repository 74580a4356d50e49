/**
 * `npm start` will run the VPP simulator, three example backends and maglevd
 * together (issue 6). Until the daemon exists it is a placeholder that says
 * so, and names what can be run today.
 */
process.stdout.write(
  "vpp-maglev: maglevd and the VPP simulator are not built yet; npm start is a placeholder until they are.\n" +
    "Built today: the VPP binary-API codecs. Try `node --import tsx examples/codec.ts`, `npm test` or `npm run bench`.\n"
)
