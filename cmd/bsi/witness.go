package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency/witness"
)

func witnessCommands() []*command {
	return []*command{{
		Name:    "witness serve",
		Args:    "--key KEY --name NAME --state DIR --log VKEY... [--listen HOST:PORT]",
		Summary: "run a C2SP tlog-witness that cosigns the checkpoints of logs it follows",
		Help: `Runs a transparency log witness (c2sp.org/tlog-witness): POST /add-checkpoint
checks that the checkpoint is signed by a log it follows (--log, the log's
vkey, as "bsi repo tlog-enable" prints it; repeat for several logs) and that
it extends the last checkpoint it cosigned for that log (consistency proof),
stores it durably, and answers with a timestamped cosignature
(c2sp.org/tlog-cosignature v1). A stale old size gets 409 with the stored
size, a bad proof 422, a fork of the same size 409, an unknown log 404, a
bad log signature 403. GET /healthz answers "ok".

The key is an ed25519 key made by "bsi keys generate --type ed25519" (a key
file, its password from BSI_PASSWORD or a prompt, or a KMS URI). On start it
prints the witness's vkey: give it to publishers for their --witness flag.
SIGINT or SIGTERM stops it gracefully.

Flags:
  --key KEY          the witness's ed25519 key
  --name NAME        the witness's name in policies (e.g. witness.example.org/w1)
  --state DIR        where the latest cosigned checkpoint of each log is kept
  --log VKEY         a log to follow (repeatable)
  --listen HOST:PORT listen address (default 127.0.0.1:8090; port 0 picks one)

Example:
  bsi witness serve --key w1.key --name w1.example --state w1-state \
    --log 'bsi.example/log+1a2b3c4d+AQ...' --listen 127.0.0.1:8091`,
		Run: runWitnessServe,
	}}
}

func runWitnessServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags("witness serve")
	keyRef := fs.String("key", "", "")
	name := fs.String("name", "", "")
	state := fs.String("state", "", "")
	listen := fs.String("listen", "127.0.0.1:8090", "")
	var logs stringList
	fs.Var(&logs, "log", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "no positional argument"); err != nil {
		return err
	}
	switch {
	case *keyRef == "":
		return usagef("missing --key")
	case *name == "":
		return usagef("missing --name")
	case *state == "":
		return usagef("missing --state")
	case len(logs) == 0:
		return usagef("missing --log: the vkey of a log to follow")
	}
	s, err := keys.LoadSigner(ctx, *keyRef, passwordFunc(e, *keyRef))
	if err != nil {
		return keysHint(err)
	}
	c, err := witness.NewCosigner(*name, s, e.Now)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.Stderr, nil))
	srv, err := witness.NewServer(witness.Config{Signer: c, Logs: logs, StateDir: *state, Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(e.Stdout, "witness %s at http://%s/\nvkey %s\n", *name, ln.Addr(), c.VerifierKey())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			return err
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
