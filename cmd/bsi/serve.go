package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/bsiframework/bsi/serve"
)

func serveCommands() []*command {
	return []*command{{
		Name:    "serve",
		Args:    "DIR [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE] [--quiet]",
		Summary: "serve a published repository over HTTP (read-only)",
		Help: `Serves the published tree DIR (what "bsi repo publish" writes) to clients.
Only files are served: no listings, no dot-files, nothing outside DIR (links
that leave it are refused). timestamp.json and other unversioned names are
sent with "Cache-Control: no-cache"; versioned metadata and hashed payloads
are immutable. Every file has a strong ETag. Files up to 1 MiB are kept in
memory while their name leads to the same unchanged file (64 MiB in all).
Each request is logged on stderr. SIGINT or SIGTERM stops the server
gracefully.

Flags:
  --addr HOST:PORT  listen address (default 127.0.0.1:8080; port 0 picks one)
  --tls-cert FILE   PEM certificate chain, to serve HTTPS (with --tls-key)
  --tls-key FILE    PEM private key of the certificate
  --quiet           no access log

Examples:
  bsi serve repo/public
  bsi serve repo/public --addr 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem`,
		Run: runServe,
	}}
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags("serve")
	addr := fs.String("addr", "127.0.0.1:8080", "")
	cert := fs.String("tls-cert", "", "")
	key := fs.String("tls-key", "", "")
	quiet := fs.Bool("quiet", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "the directory to serve"); err != nil {
		return err
	}
	if (*cert == "") != (*key == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	logger := slog.New(slog.NewTextHandler(e.Stderr, nil))
	if *quiet {
		logger = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	scheme := "http"
	if *cert != "" {
		scheme = "https"
	}
	return serve.ListenAndServe(ctx, serve.Options{
		Dir: pos[0], Addr: *addr, TLSCert: *cert, TLSKey: *key, Logger: logger,
		Ready: func(a string) {
			fmt.Fprintf(e.Stdout, "serving %s at %s://%s/\n", pos[0], scheme, a)
		},
	})
}
