package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/bsiframework/bsi/fleet"
)

func fleetCommands() []*command {
	return []*command{{
		Name:    "fleet serve",
		Args:    "[--db sqlite:PATH|postgres://...] [--addr HOST:PORT] [--max-body BYTES] [--device-rate R --device-burst N] [--addr-rate R --addr-burst N] [--quiet]",
		Summary: "collect device reports and serve rollout statistics",
		Help: `Receives device reports (POST /v1/reports, a JSON batch: see package
fleet/report) and serves per-improvement statistics: GET /v1/stats, GET
/v1/stats/COMPONENT/ID, a status page at / and GET /healthz. Reports are
unauthenticated and pseudonymous: they can only inform a halt of a rollout,
never hurry one. Bad batches are refused whole with a 4xx and a reason; a
flood from one device or address gets 429. A 200 is sent only after the
reports are committed to the database, so a crash loses no acknowledged
report; devices resend unacknowledged batches and duplicates are skipped.
SIGINT or SIGTERM stops the collector gracefully.

Flags:
  --db DSN          sqlite:PATH (default sqlite:fleet.db; embedded, WAL) or
                    postgres://USER@HOST/DB (several collectors share one database)
  --addr HOST:PORT  listen address (default 127.0.0.1:8090; port 0 picks one)
  --max-body BYTES  largest POST body (default 1048576)
  --device-rate R   reports per second per device id after its burst (default 0.2)
  --device-burst N  reports a device may send at once (default 60)
  --addr-rate R     requests per second per client address after its burst (default 50)
  --addr-burst N    requests an address may send at once (default 500; raise it
                    for large fleets behind one NAT address)
  --quiet           log only warnings and errors

Examples:
  bsi fleet serve
  bsi fleet serve --db sqlite:/var/lib/bsi/fleet.db --addr 0.0.0.0:8090
  bsi fleet serve --db 'postgres://bsi@db.internal/fleet?sslmode=verify-full'`,
		Run: runFleetServe,
	}}
}

func runFleetServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags("fleet serve")
	db := fs.String("db", "sqlite:fleet.db", "")
	addr := fs.String("addr", "127.0.0.1:8090", "")
	maxBody := fs.Int64("max-body", 1<<20, "")
	quiet := fs.Bool("quiet", false, "")
	deviceRate := fs.Float64("device-rate", 0.2, "")
	deviceBurst := fs.Int("device-burst", 60, "")
	addrRate := fs.Float64("addr-rate", 50, "")
	addrBurst := fs.Int("addr-burst", 500, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "no argument"); err != nil {
		return err
	}
	if !strings.HasPrefix(*db, "sqlite:") && !strings.HasPrefix(*db, "postgres://") && !strings.HasPrefix(*db, "postgresql://") {
		return usagef("--db: want sqlite:PATH or postgres://..., got %q", *db)
	}
	if *maxBody < 4096 || *maxBody > 64<<20 {
		return usagef("--max-body: %d out of range 4096..67108864", *maxBody)
	}
	if *deviceRate <= 0 || *addrRate <= 0 || *deviceBurst < 1 || *addrBurst < 1 {
		return usagef("rates must be above 0 and bursts at least 1")
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	store, err := fleet.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	return fleet.ListenAndServe(ctx, fleet.ServeOptions{
		Addr: *addr,
		Ready: func(a string) {
			fmt.Fprintf(e.Stdout, "collecting fleet reports at http://%s/ (database %s)\n", a, dbKind(*db))
		},
		Collector: fleet.Options{Store: store, Logger: logger, Now: e.Now, MaxBody: *maxBody,
			DeviceRate: *deviceRate, DeviceBurst: *deviceBurst, AddrRate: *addrRate, AddrBurst: *addrBurst},
	})
}

// dbKind names the database without its credentials.
func dbKind(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	return "postgres"
}
