// Package bench measures the bsi client core (trust/client) side by side
// with go-tuf v2's reference client (metadata/updater) on the same
// repositories, in the same process, and the publisher (trust/repo) adding
// one improvement to them. It is what "bsi bench" runs.
//
// # Repositories
//
// Each case is a repository generated with trust/repo (AddBatch, ed25519
// keys held in memory, one shared 1 KiB payload) with N improvements of
// one component, "webkit", in one of two layouts:
//
//	flat   targets delegates webkit/* to the role "webkit", which lists
//	       every improvement: at 100,000 its file is about 30 MB
//	bins   "webkit" delegates to 256 succinct hash bins
//	       ("webkit.bin-00" … "webkit.bin-ff"), each listing about N/256
//
// The published tree (consistent snapshots) is served by net/http's file
// server on 127.0.0.1, which counts requests and response body bytes.
//
// # Scenarios
//
// A device is a metadata directory that persists between checks; each
// check is a new process in spirit: a new client, a new http.Client with
// a transport of its own (go-tuf gets its own fetcher, never
// http.DefaultClient), and a new go-tuf Updater (one refreshes once).
//
//	cold        only the root installed: refresh, look up improvement
//	            N/2+1, download its payload
//	warm        nothing changed since the last check: refresh and look up
//	            again (what a device does on every scheduled check); the
//	            time per check over a loop of checks of at least 20 ms
//	            (at least one check), each with a new client, as
//	            testing.B measures
//	warm, one shot  the first check of each such loop alone: a single
//	            shot after the other client's run in the same process,
//	            which pays for its garbage (collected, then scavenged
//	            while this check runs), cold caches and fresh pages
//	one change  the publisher opened the workspace, added one improvement
//	            signed by the webkit key, published; each device, up to
//	            date with the previous version, refreshes and looks the
//	            new one up
//
// # Whole processes
//
// With Config.Source set (bsi bench sets it to the source tree of the
// current directory), a run first builds two binaries with the go
// command: bsi's device binary (DevicePackage: ./cmd/bsi-agent, or
// ./cmd/bsi in a tree without it) and a small client on go-tuf's updater
// (./conformance/internal/gotufclient), both speaking the tuf-client
// protocol. Each case then times whole processes, start-up included, the
// way a device or a conformance harness runs them: "init ROOTFILE"
// (unmeasured), then "refresh" cold (only the root) and warm (nothing
// changed). A refresh reads the top-level roles only (root, timestamp,
// snapshot, targets), which are the same in both layouts.
//
// # Floors
//
// After each of bsi's cold and one-change checks, its floor is measured
// on the same files: the paths bsi requested, downloaded again over
// loopback on a new connection, one SHA-256 pass over all their bytes,
// one ed25519 check over the largest, one encoding/json decode of each
// metadata file into the fields a client reads, and one write and fsync
// of all of it. bsi/floor is bsi's time over the floor's.
//
// Within a run the two clients alternate which goes first. Each figure is
// the median of at least MinRuns runs (whole-process figures, of at least
// MinProcessRuns), taken figure by figure: wall time,
// requests and bytes on the wire, and bytes allocated
// (runtime.MemStats.TotalAlloc after a GC; the loopback server runs in
// the same process and its allocations count too, for both clients).
//
// # Example
//
//	src, err := bench.FindSource(ctx)
//	r, err := bench.Run(ctx, bench.Config{Sizes: bench.QuickSizes, Source: src})
//	r.WriteTable(os.Stdout)
//	bench.WriteGoals(os.Stdout, r.Goals())
//
// prints, for each N and layout, lines such as
//
//	    N  layout      scenario     bsi  go-tuf  go-tuf/bsi  floor  bsi/floor  ...
//	10000    flat          warm   600µs   200ms     333.33x      -          -  ...
//	10000    flat  process warm  4.00ms  6.00ms       1.50x      -          -  ...
package bench
