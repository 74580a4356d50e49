/**
 * `npm start` will run the VPP simulator, three example backends and maglevd
 * together (issue 6). Until the daemon exists it is a placeholder that says
 * so, and names what can be run today.
 */
process.stdout.write(
  "vpp-maglev: maglevd is not built yet; npm start is a placeholder until it is.\n" +
    "Built today: the VPP binary-API codecs, client and simulator, the configuration check and the health checker.\n" +
    "Try `npm run maglevd -- --check --config examples/maglev.yaml`, `npm run maglevd -- --config examples/maglev.yaml`,\n" +
    "`npm run vppsim -- --api-socket /tmp/api.sock --stats-socket /tmp/stats.sock`, `npm test` or `npm run bench`.\n"
)
