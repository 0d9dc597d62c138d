package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// ConformanceSchema names the version of the JSON form of Report, and
// MatrixSchema that of Matrix: fields are only ever added under one name.
const (
	ConformanceSchema = "bsi.conformance/v1"
	MatrixSchema      = "bsi.conformance-matrix/v1"
)

// Report is the outcome of a run, in scenario order. Its JSON form
// (WriteJSON) is a stable schema named by Schema and described by
// conformance/schema/conformance.v1.json; durations are nanoseconds.
type Report struct {
	Schema  string    `json:"schema"`
	Client  []string  `json:"client"`
	Started time.Time `json:"finished"`
	Results []Result  `json:"results"`
}

// Counts tallies results by status.
type Counts struct {
	Pass, Fail, XFail, XPass, Skip int
}

// Total is the number of scenarios run (skipped ones excluded).
func (c Counts) Total() int { return c.Pass + c.Fail + c.XFail + c.XPass }

// Counts tallies results by status, for one group or ("") all.
func (r *Report) Counts(group string) Counts {
	var c Counts
	for _, res := range r.Results {
		if group != "" && res.Group != group {
			continue
		}
		switch res.Status {
		case Pass:
			c.Pass++
		case Fail:
			c.Fail++
		case XFail:
			c.XFail++
		case XPass:
			c.XPass++
		case Skipped:
			c.Skip++
		}
	}
	return c
}

// OK reports whether every scenario passed or failed as expected.
func (r *Report) OK() bool {
	c := r.Counts("")
	return c.Fail == 0 && c.XPass == 0
}

// Failed returns the results that count as failures (fail and xpass).
func (r *Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == Fail || res.Status == XPass {
			out = append(out, res)
		}
	}
	return out
}

// WriteText writes the report for people: a table by group, then each
// failure with what was expected and what the client did.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tpass\tfail\txfail\txpass\tskip\t")
	for _, g := range Groups {
		c := r.Counts(g)
		if c.Total()+c.Skip == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", g, c.Pass, c.Fail, c.XFail, c.XPass, c.Skip)
	}
	c := r.Counts("")
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t\n", c.Pass, c.Fail, c.XFail, c.XPass, c.Skip)
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for _, res := range r.Failed() {
		fmt.Fprintf(&b, "\n%s %s: %s (%s)\n", strings.ToUpper(string(res.Status)), res.Name, res.Description, res.Spec)
		for _, m := range res.Failures {
			fmt.Fprintf(&b, "  expected: %s\n", m)
		}
		for _, inv := range res.Calls {
			fmt.Fprintf(&b, "  client:   %s\n", inv.String())
		}
	}
	pct := 100.0
	if c.Total() > 0 {
		pct = 100 * float64(c.Pass+c.XFail) / float64(c.Total())
	}
	fmt.Fprintf(&b, "\n%s: %d passed, %d failed, %s, %s, %d skipped (%.1f%% as expected)\n",
		plural(c.Total(), "scenario"), c.Pass, c.Fail, plural(c.XFail, "expected failure"), plural(c.XPass, "unexpected pass"), c.Skip, pct)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON, schema
// ConformanceSchema.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	c := *r
	c.Schema = ConformanceSchema
	if c.Results == nil {
		c.Results = []Result{}
	}
	return enc.Encode(&c)
}

// Matrix is the outcome of one suite run against several clients: one
// Report per client, in the order the clients were given.
type Matrix struct {
	Schema string    `json:"schema"`
	Runs   []*Report `json:"runs"`
}

// WriteJSON writes the matrix as indented JSON, schema MatrixSchema;
// each run carries its own ConformanceSchema.
func (m *Matrix) WriteJSON(w io.Writer) error {
	c := Matrix{Schema: MatrixSchema, Runs: make([]*Report, len(m.Runs))}
	for i, r := range m.Runs {
		rc := *r
		rc.Schema = ConformanceSchema
		c.Runs[i] = &rc
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&c)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML, one test suite per group.
// Expected failures are reported as skipped with their reason.
func (r *Report) WriteJUnit(w io.Writer) error { return r.writeJUnit(w, Groups) }

func (r *Report) writeJUnit(w io.Writer, groups []string) error {
	var out junitSuites
	for _, g := range groups {
		s := junitSuite{Name: "conformance/" + g}
		var total time.Duration
		for _, res := range r.Results {
			if res.Group != g {
				continue
			}
			total += res.Duration
			c := junitCase{Name: res.Name, ClassName: "conformance." + g, Time: seconds(res.Duration)}
			switch res.Status {
			case Fail, XPass:
				var text strings.Builder
				for _, inv := range res.Calls {
					text.WriteString(inv.String() + "\n")
				}
				c.Failure = &junitMessage{Message: strings.Join(res.Failures, "; "), Text: text.String()}
				s.Failures++
			case XFail:
				c.Skipped = &junitMessage{Message: "expected failure: " + res.XFailReason}
				s.Skipped++
			case Skipped:
				c.Skipped = &junitMessage{Message: strings.Join(res.Failures, "; ")}
				s.Skipped++
			}
			s.Cases = append(s.Cases, c)
		}
		if len(s.Cases) == 0 {
			continue
		}
		s.Tests, s.Time = len(s.Cases), seconds(total)
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// ParseXFails reads an expected-failures file: one scenario name per line,
// optionally followed by a reason; blank lines and lines starting with #
// are ignored. Names that are not scenarios are an error, so that a
// renamed scenario cannot hide.
func ParseXFails(r io.Reader, known []Scenario) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(known))
	for i, s := range known {
		names[i] = s.Name
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		reason = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(reason), "#"))
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("xfails line %d: unknown scenario %q", i+1, name)
		}
		if reason == "" {
			reason = "listed as expected to fail"
		}
		out[name] = reason
	}
	return out, nil
}

// SplitCommand splits a client command line into words, shell-like:
// blanks separate words, single quotes keep everything, double quotes keep
// everything but backslash escapes, a backslash outside quotes escapes the
// next byte. No variables, globs or operators.
func SplitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("command %q ends with a backslash", s)
			}
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q has an unterminated %c quote", s, quote)
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}
