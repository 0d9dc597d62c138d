package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain stops the PostgreSQL server the tests started, and lets the test
// binary run as a collector child process (the kill -9 test).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	code := m.Run()
	pgStop()
	os.Exit(code)
}

// pgBin is where Debian's postgresql 15 puts its programs.
const pgBin = "/usr/lib/postgresql/15/bin"

// pgServer is a PostgreSQL server the tests started in a temporary
// directory, listening only on a unix socket there.
type pgServer struct {
	dir  string
	user string // the unprivileged user running it, "" when not root
}

var (
	pgOnce sync.Once
	pg     *pgServer
	pgErr  error
	pgDBs  atomic.Int64
)

// asUser runs a postgres program, as the unprivileged user when we are root.
func (s *pgServer) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := filepath.Join(pgBin, prog)
	var cmd *exec.Cmd
	if s.user != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.user, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.dir
	return cmd
}

func pgStart() (*pgServer, error) {
	if _, err := os.Stat(filepath.Join(pgBin, "pg_ctl")); err != nil {
		return nil, fmt.Errorf("postgresql 15 not installed (%v): run .ci/deps", err)
	}
	dir, err := os.MkdirTemp("", "bsi-fleet-pg-")
	if err != nil {
		return nil, err
	}
	s := &pgServer{dir: dir}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("postgres as root needs the user nobody: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		s.user = "nobody"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := s.command(ctx, "initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c max_connections=100", dir)
	if out, err := s.command(ctx, "pg_ctl", "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "log"), "-w", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return s, nil
}

func pgStop() {
	if pg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg.command(ctx, "pg_ctl", "-D", filepath.Join(pg.dir, "data"), "-m", "immediate", "-w", "stop").Run()
	os.RemoveAll(pg.dir)
}

func (s *pgServer) dsn(db string) string {
	return "postgres://postgres@/" + db + "?host=" + s.dir + "&sslmode=disable"
}

// postgresDSN starts the test server once and returns the DSN of a new,
// empty database. Without postgresql the test is skipped, except under
// CI=true where it fails.
func postgresDSN(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = pgStart() })
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgresql server required under CI=true: %v", pgErr)
		}
		t.Skipf("skipping: postgresql server unavailable: %v", pgErr)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgDBs.Add(1))
	db, err := sql.Open("pgx", pg.dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return pg.dsn(name)
}

// storeKinds are the stores every suite test runs against.
var storeKinds = []string{"sqlite", "postgres"}

// newDSN returns the DSN of a new, empty database of kind.
func newDSN(t testing.TB, kind string) string {
	t.Helper()
	switch kind {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "fleet.db")
	case "postgres":
		return postgresDSN(t)
	}
	t.Fatalf("unknown store kind %q", kind)
	return ""
}

// openStore opens a new, empty store of kind, closed at the end of the test.
func openStore(t testing.TB, kind string) (Store, string) {
	t.Helper()
	dsn := newDSN(t, kind)
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// forEachStore runs f as a subtest against each kind of store.
func forEachStore(t *testing.T, f func(t *testing.T, s Store, dsn string)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			s, dsn := openStore(t, kind)
			f(t, s, dsn)
		})
	}
}

// storedIDs returns every report_id in the database at dsn.
func storedIDs(t testing.TB, dsn string) map[string]bool {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := map[string]bool{}
	err = s.(*sqlStore).query(context.Background(), "SELECT report_id FROM reports", nil, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids[id] = true
		return nil
	})
	if err != nil {
		t.Fatal(errors.Join(err))
	}
	return ids
}
