// Package sim is the repository simulator of the conformance suite: a TUF
// repository built in memory with go-tuf's metadata package and served over
// HTTP on 127.0.0.1, which a scenario edits, publishes and makes misbehave.
//
// # Layout served
//
//	/metadata/N.root.json, /metadata/root.json
//	/metadata/timestamp.json
//	/metadata/N.snapshot.json, /metadata/snapshot.json
//	/metadata/N.<role>.json, /metadata/<role>.json   (targets and delegated roles)
//	/targets/<path> and /targets/<dir>/<hash>.<name> for every listed hash
//
// Request paths are percent-decoded before lookup, so a role named "a b" is
// found whether a client asks for "1.a%20b.json" or "1.a b.json".
//
// # Publishing with the publisher
//
// NewPublisher resets a Repo and fills it with the real publisher (package
// trust/repo): a workspace whose keys the simulator holds publishes into
// the Repo through Destination, and Load reads what was published back
// into the editable metadata, so that a scenario can go on from there with
// the simulator's own editing (what the publisher refuses to make).
//
// # Misbehaviour
//
// Everything a client must refuse is staged by editing the exported
// metadata and re-signing it (wrong keys, too few signatures, wrong types,
// expired files, lower versions), by serving chosen bytes with Set and
// SetPayload, or by overriding a name with Status (404, 500), Endless (an
// endless body) or Slow (a delayed answer). Requests records every name
// asked for, in order, so a scenario can assert the exact sequence.
//
// # Worked example
//
//	r := sim.New(time.Now(), func(err error) { panic(err) })
//	defer r.Close()
//	r.AddTarget("targets", "a/file.txt", []byte("hello"))
//	r.Publish("targets")                // targets v2, snapshot v2, timestamp v2
//	r.Timestamp.Signed.Version = 1      // a replayed timestamp
//	r.PublishTimestamp()
package sim
