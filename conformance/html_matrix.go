package conformance

import (
	"html/template"
	"io"
	"strings"
	"time"
)

var matrixHTML = template.Must(template.New("matrix").Funcs(template.FuncMap{
	"cmd": func(c []string) string { return strings.Join(c, " ") },
	"rfc": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>bsi conformance</title>
<style>{{.Style}}</style></head>
<body>
<h1>bsi conformance</h1>
<div class="meta">{{len .Rows}} scenarios × {{len .M.Runs}} clients</div>
<h2>Clients</h2>
<table id="clients">
<tr><th>#</th><th>client</th><th>started</th><th>pass</th><th>fail</th><th>xfail</th><th>xpass</th><th>skip</th><th>as expected</th></tr>
{{range $i, $c := .Clients}}<tr><td>{{$i}}</td><td class="keys">{{cmd $c.Report.Client}}</td><td>{{rfc $c.Report.Started}}</td>
<td class="num" id="n-pass-{{$i}}">{{$c.Counts.Pass}}</td><td class="num" id="n-fail-{{$i}}">{{$c.Counts.Fail}}</td>
<td class="num" id="n-xfail-{{$i}}">{{$c.Counts.XFail}}</td><td class="num" id="n-xpass-{{$i}}">{{$c.Counts.XPass}}</td>
<td class="num" id="n-skip-{{$i}}">{{$c.Counts.Skip}}</td><td>{{if $c.Report.OK}}<span class="yes">yes</span>{{else}}<span class="no">no</span>{{end}}</td></tr>
{{end}}</table>

<h2>Scenarios</h2>
<table id="matrix">
<tr><th>scenario</th><th>spec</th>{{range $i, $c := .Clients}}<th title="{{cmd $c.Report.Client}}">client {{$i}}</th>{{end}}</tr>
{{range .Rows}}<tr><td title="{{.Description}}">{{.Name}}</td><td>{{.Spec}}</td>
{{range .Cells}}<td class="cell st-{{.}}">{{.}}</td>{{end}}</tr>
{{end}}</table>

<h2>Failures</h2>
{{if not .Failures}}<p>No failures.</p>{{end}}
{{range .Failures}}<details open class="failure"><summary>{{.Status}} {{.Result.Name}} · client {{.Client}}</summary>
<div>{{.Result.Description}} ({{.Result.Spec}})</div>
{{range .Result.Failures}}<pre>expected: {{.}}</pre>{{end}}
{{range .Result.Calls}}<pre>client: {{.String}}</pre>{{end}}
</details>
{{end}}
</body></html>
`))

type matrixClient struct {
	Report *Report
	Counts Counts
}

type matrixRow struct {
	Name, Description, Spec string
	Cells                   []Status // one per client; "" when not run
}

type matrixFailure struct {
	Client int
	Status Status
	Result Result
}

// WriteHTML writes the matrix as one self-contained HTML page: each
// client's counts, the scenario × client table with spec references,
// and every failure expanded with what was expected and what the client
// did.
func (m *Matrix) WriteHTML(w io.Writer) error {
	var clients []matrixClient
	var rows []*matrixRow
	index := map[string]*matrixRow{}
	var fails []matrixFailure
	for i, r := range m.Runs {
		clients = append(clients, matrixClient{Report: r, Counts: r.Counts("")})
		for _, res := range r.Results {
			row := index[res.Name]
			if row == nil {
				row = &matrixRow{Name: res.Name, Description: res.Description, Spec: res.Spec, Cells: make([]Status, len(m.Runs))}
				index[res.Name] = row
				rows = append(rows, row)
			}
			row.Cells[i] = res.Status
			if res.Status == Fail || res.Status == XPass {
				fails = append(fails, matrixFailure{Client: i, Status: res.Status, Result: res})
			}
		}
	}
	return matrixHTML.Execute(w, map[string]any{
		"M": m, "Clients": clients, "Rows": rows, "Failures": fails, "Style": template.CSS(htmlStyle),
	})
}

// WriteHTML writes the report of one client as a one-column matrix.
func (r *Report) WriteHTML(w io.Writer) error {
	return (&Matrix{Runs: []*Report{r}}).WriteHTML(w)
}
