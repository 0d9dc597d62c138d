package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bsiframework/bsi/fleet/report"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go
)

// Store keeps reports and computes statistics. The SQLite and PostgreSQL
// stores implement it and pass the same test suite.
type Store interface {
	// Append stores reports in one transaction and returns how many were
	// new: a report whose ID is already stored is skipped (idempotency).
	// When Append returns nil, every report is durably committed.
	Append(ctx context.Context, reports []report.Report) (int, error)
	// Stats returns the statistics of every improvement, or of the one
	// improvement of f when f is set, sorted by component then id.
	Stats(ctx context.Context, f Filter) ([]ImprovementStats, error)
	// Close releases the database.
	Close() error
}

// Filter selects the statistics of one improvement; the zero Filter selects all.
type Filter struct {
	Component   string
	Improvement string
}

// ImprovementStats are the statistics of one improvement, over all its
// reports and by rollout stage, ring and platform release.
type ImprovementStats struct {
	Component   string `json:"component"`
	Improvement string `json:"improvement"`
	Counts
	ByStage   []Group `json:"by_stage"`
	ByRing    []Group `json:"by_ring"`
	ByRelease []Group `json:"by_release"`
}

// Group is the statistics of one stage, ring or release.
type Group struct {
	Key string `json:"key"`
	Counts
}

// Counts are the statistics of a set of reports. Devices are distinct
// pseudonymous device ids; a device that reported twice counts once.
type Counts struct {
	Devices          int                     `json:"devices"`
	AttemptedDevices int                     `json:"attempted_devices"` // reported installed, health-failed or rolled-back
	FailedDevices    int                     `json:"failed_devices"`    // reported health-failed or rolled-back
	FailureRate      float64                 `json:"failure_rate"`      // FailedDevices / AttemptedDevices, 0 when none attempted
	Outcomes         map[string]OutcomeCount `json:"outcomes"`          // every outcome, zero or not
}

// OutcomeCount counts one outcome: reports and the distinct devices that sent them.
type OutcomeCount struct {
	Reports int `json:"reports"`
	Devices int `json:"devices"`
}

func newCounts() Counts {
	c := Counts{Outcomes: make(map[string]OutcomeCount, len(report.Outcomes))}
	for _, o := range report.Outcomes {
		c.Outcomes[string(o)] = OutcomeCount{}
	}
	return c
}

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name   string
	driver string
	// param is the i-th (1-based) placeholder.
	param func(i int) string
}

var (
	sqliteDialect   = dialect{name: "sqlite", driver: "sqlite", param: func(int) string { return "?" }}
	postgresDialect = dialect{name: "postgres", driver: "pgx", param: func(i int) string { return "$" + strconv.Itoa(i) }}
)

const schema = `CREATE TABLE IF NOT EXISTS reports (
	report_id   TEXT PRIMARY KEY,
	device      TEXT NOT NULL,
	platform    TEXT NOT NULL,
	rel         TEXT NOT NULL,
	build       TEXT NOT NULL,
	ring        TEXT NOT NULL,
	component   TEXT NOT NULL,
	improvement TEXT NOT NULL,
	seq         BIGINT NOT NULL,
	stage       BIGINT NOT NULL,
	outcome     TEXT NOT NULL,
	error_class TEXT NOT NULL,
	time_ms     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_improvement ON reports (component, improvement, outcome, device)`

// columns of reports in insert order; values come from row.
const columns = "report_id, device, platform, rel, build, ring, component, improvement, seq, stage, outcome, error_class, time_ms"

const ncolumns = 13

func row(r *report.Report) [ncolumns]any {
	return [ncolumns]any{r.ID, r.Device, r.Platform, r.Release, r.Build, r.Ring, r.Component,
		r.Improvement, int64(r.Sequence), int64(r.Stage), string(r.Outcome), r.ErrorClass, r.Time.UnixMilli()}
}

// insertChunk is how many reports one INSERT statement carries
// (13 parameters each: far below both databases' parameter limits).
const insertChunk = 100

// sqlStore is the Store of both databases, through database/sql. Every
// value reaches the database as a parameter, never inside the SQL text.
type sqlStore struct {
	db *sql.DB
	d  dialect
	// inserts caches the INSERT text by number of rows.
	inserts map[int]string
}

var _ Store = (*sqlStore)(nil)

// Open opens the store named by dsn: "sqlite:PATH" (the file is created if
// missing) or a PostgreSQL URL "postgres://..." / "postgresql://...". The
// schema is created if missing.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("fleet: database %q: want sqlite:PATH or postgres://...", redact(dsn))
}

// redact drops a password from a URL-like dsn for messages.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.LastIndex(dsn, "@"); j > i {
			return dsn[:i+3] + "…@" + dsn[j+1:]
		}
	}
	return dsn
}

func openSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("fleet: sqlite path %q: empty or contains ? or #", path)
	}
	// WAL: readers (stats) do not block the writer. synchronous(FULL): a
	// commit is on disk when it returns, so an acknowledged report survives
	// a crash of the process or of the machine.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("fleet: open sqlite %s: %w", path, err)
	}
	// One writer (the committer) and a few readers (statistics).
	db.SetMaxOpenConns(8)
	s := &sqlStore{db: db, d: sqliteDialect, inserts: map[int]string{}}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("fleet: sqlite %s: create schema: %w", path, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("fleet: open postgres %s: %w", redact(dsn), err)
	}
	// Several collectors share the server's max_connections.
	db.SetMaxOpenConns(8)
	s := &sqlStore{db: db, d: postgresDialect, inserts: map[int]string{}}
	// Several collectors may start at once on one database: the advisory
	// lock serialises their CREATE ... IF NOT EXISTS.
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(4242001)"); err != nil {
			return err
		}
		for _, stmt := range strings.Split(schema, ";") {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("fleet: postgres %s: create schema: %w", redact(dsn), err)
	}
	return s, nil
}

func (s *sqlStore) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *sqlStore) insertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO reports (" + columns + ") VALUES ")
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range ncolumns {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s.d.param(p))
			p++
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (report_id) DO NOTHING")
	return b.String()
}

// Append implements Store. It is called by one goroutine at a time (the
// collector's committer), so the statement cache needs no lock.
func (s *sqlStore) Append(ctx context.Context, reports []report.Report) (int, error) {
	added := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		args := make([]any, 0, insertChunk*ncolumns)
		for start := 0; start < len(reports); start += insertChunk {
			chunk := reports[start:min(start+insertChunk, len(reports))]
			q, ok := s.inserts[len(chunk)]
			if !ok {
				q = s.insertSQL(len(chunk))
				s.inserts[len(chunk)] = q
			}
			args = args[:0]
			for i := range chunk {
				v := row(&chunk[i])
				args = append(args, v[:]...)
			}
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fleet: %s: append %d reports: %w", s.d.name, len(reports), err)
	}
	return added, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }

// dimension is a grouping of the statistics: "" for the totals.
type dimension struct {
	expr string
	set  func(st *ImprovementStats, g []Group)
}

var dimensions = []dimension{
	{expr: ""},
	{expr: "CAST(stage AS TEXT)", set: func(st *ImprovementStats, g []Group) { st.ByStage = g }},
	{expr: "ring", set: func(st *ImprovementStats, g []Group) { st.ByRing = g }},
	{expr: "rel", set: func(st *ImprovementStats, g []Group) { st.ByRelease = g }},
}

// outcomeList is an SQL list of outcome constants (from this package, never
// from a report) for which pred holds.
func outcomeList(pred func(report.Outcome) bool) string {
	var q []string
	for _, o := range report.Outcomes {
		if pred(o) {
			q = append(q, "'"+string(o)+"'")
		}
	}
	return strings.Join(q, ",")
}

type impKey struct{ component, improvement string }

// Stats implements Store.
func (s *sqlStore) Stats(ctx context.Context, f Filter) ([]ImprovementStats, error) {
	where, args := "", []any(nil)
	if f.Component != "" || f.Improvement != "" {
		where = " WHERE component = " + s.d.param(1) + " AND improvement = " + s.d.param(2)
		args = []any{f.Component, f.Improvement}
	}
	byImp := map[impKey]*ImprovementStats{}
	for _, dim := range dimensions {
		groups, err := s.groupStats(ctx, dim.expr, where, args)
		if err != nil {
			return nil, fmt.Errorf("fleet: %s: stats: %w", s.d.name, err)
		}
		for k, gs := range groups {
			st := byImp[k]
			if st == nil {
				st = &ImprovementStats{Component: k.component, Improvement: k.improvement, Counts: newCounts(),
					ByStage: []Group{}, ByRing: []Group{}, ByRelease: []Group{}}
				byImp[k] = st
			}
			if dim.set == nil {
				st.Counts = gs[0].Counts
			} else {
				dim.set(st, gs)
			}
		}
	}
	out := make([]ImprovementStats, 0, len(byImp))
	for _, st := range byImp {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Component != out[j].Component {
			return out[i].Component < out[j].Component
		}
		return out[i].Improvement < out[j].Improvement
	})
	return out, nil
}

// groupStats computes the Counts of every (improvement, expr value).
func (s *sqlStore) groupStats(ctx context.Context, expr, where string, args []any) (map[impKey][]Group, error) {
	sel, group := "''", "component, improvement"
	if expr != "" {
		sel, group = expr, "component, improvement, "+expr
	}
	type gkey struct {
		imp impKey
		key string
	}
	counts := map[gkey]*Counts{}
	get := func(k gkey) *Counts {
		c := counts[k]
		if c == nil {
			n := newCounts()
			c = &n
			counts[k] = c
		}
		return c
	}
	q := "SELECT component, improvement, " + sel + ", COUNT(DISTINCT device), " +
		"COUNT(DISTINCT CASE WHEN outcome IN (" + outcomeList(report.Outcome.Attempted) + ") THEN device END), " +
		"COUNT(DISTINCT CASE WHEN outcome IN (" + outcomeList(report.Outcome.Failed) + ") THEN device END) " +
		"FROM reports" + where + " GROUP BY " + group
	err := s.query(ctx, q, args, func(rows *sql.Rows) error {
		var k gkey
		var c Counts
		if err := rows.Scan(&k.imp.component, &k.imp.improvement, &k.key, &c.Devices, &c.AttemptedDevices, &c.FailedDevices); err != nil {
			return err
		}
		g := get(k)
		g.Devices, g.AttemptedDevices, g.FailedDevices = c.Devices, c.AttemptedDevices, c.FailedDevices
		if c.AttemptedDevices > 0 {
			g.FailureRate = float64(c.FailedDevices) / float64(c.AttemptedDevices)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q = "SELECT component, improvement, " + sel + ", outcome, COUNT(*), COUNT(DISTINCT device) " +
		"FROM reports" + where + " GROUP BY " + group + ", outcome"
	err = s.query(ctx, q, args, func(rows *sql.Rows) error {
		var k gkey
		var outcome string
		var oc OutcomeCount
		if err := rows.Scan(&k.imp.component, &k.imp.improvement, &k.key, &outcome, &oc.Reports, &oc.Devices); err != nil {
			return err
		}
		get(k).Outcomes[outcome] = oc
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[impKey][]Group{}
	for k, c := range counts {
		out[k.imp] = append(out[k.imp], Group{Key: k.key, Counts: *c})
	}
	for _, gs := range out {
		sort.Slice(gs, func(i, j int) bool { return groupLess(gs[i].Key, gs[j].Key) })
	}
	return out, nil
}

// groupLess orders keys numerically when both are numbers (stages), else as text.
func groupLess(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

func (s *sqlStore) query(ctx context.Context, q string, args []any, each func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return errors.Join(rows.Err(), rows.Close())
}
