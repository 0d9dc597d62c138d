// Package loadgen is a small HTTP load generator for the servers of a
// published bsi repository: bsi serve, nginx, a CDN in front of either. It
// is what "bsi load" and the load tests of package serve run.
//
// # Model
//
// Conns workers run for Duration. Each worker sends one request at a time,
// waits for the whole response and sends the next, so the server sees Conns
// concurrent keep-alive connections (a fleet of devices is many such
// clients, each polling). Every request is drawn from a weighted Mix with a
// random source seeded per worker, so two runs with the same mix send the
// same sequence of requests.
//
// The generator shares the machine with the server it measures, so it
// spends as little as it can per request: over plain HTTP each worker
// writes a GET built once per request of the mix on its own connection and
// reads the answer with net/http's response parser (a request that finds
// its idle connection closed by the server is sent again on a new one, as
// net/http's client does); https and POST requests (Reports) go through
// net/http's client.
//
// Each Request says what the server must answer: a status (200, or 304 for
// a conditional GET) and, when known, the body length. Anything else is an
// error, counted by kind:
//
//	connect   the connection could not be opened
//	timeout   no complete response within Config.Timeout
//	reset     the server closed or reset the connection mid-request
//	status N  an unexpected status, N
//	length    a body of the wrong length
//	read      any other failure while reading the body
//	other     anything else
//
// A request still in flight when Duration ends is finished and counted;
// none is cut short. Cancelling the context stops the workers at once and
// requests cut short that way are not counted.
//
// # The fleet mix
//
// [Discover] builds the mix a fleet of bsi devices sends, from the server
// itself, so that it works against any server of the same tree: it fetches
// timestamp.json (keeping its ETag), the snapshot it names, the current
// version of every role the snapshot lists, and the targets those roles list.
// The mix is then, by weight (see [FleetWeights]):
//
//	80  GET /timestamp.json with If-None-Match: the ETag (want 304)
//	 5  GET /N.snapshot.json                               (want 200)
//	10  GET /N.ROLE.json for targets and every delegated role (200)
//	 5  GET /targets/COMPONENT/SHA256.NAME, every payload   (200)
//
// A weight is shared evenly by the files of its group. A server that sends
// no ETag is polled without If-None-Match (want 200).
//
// # Figures
//
// A [Result] holds the requests sent, errors by kind, requests per second
// over the whole run, latency percentiles (p50, p90, p99, max: the
// nearest-rank value of every request's time from sending to the end of the
// body), the same per kind of request, and the connections the client
// opened (Conns when the server keeps connections alive).
//
// # Example
//
//	mix, err := loadgen.Discover(ctx, nil, "http://127.0.0.1:8080/", loadgen.FleetWeights)
//	res, err := loadgen.Run(ctx, loadgen.Config{
//		URL: "http://127.0.0.1:8080/", Mix: mix, Conns: 64, Duration: 5 * time.Second,
//	})
//	loadgen.WriteTable(os.Stdout, res)
package loadgen
