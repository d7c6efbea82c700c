package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table is a text table: its first names columns say what a row is and
// are left-aligned, the figures after them are right-aligned, and a last
// column of notes, when it has one, is left as it is. Columns are two
// spaces apart.
type table struct {
	names int
	notes bool
	rows  [][]string
}

// newTable returns a table with the given header.
func newTable(names int, notes bool, header ...string) *table {
	return &table{names: names, notes: notes, rows: [][]string{header}}
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write lays the table out with text/tabwriter. A tabwriter aligns all its
// columns one way, so the figures are laid out first, right-aligned, and
// their lines then placed after the names, left-aligned.
func (t *table) write(w io.Writer) {
	var figures bytes.Buffer
	tw := tabwriter.NewWriter(&figures, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range t.rows {
		cells, note := row[t.names:], ""
		if t.notes {
			cells, note = cells[:len(cells)-1], row[len(row)-1]
		}
		for _, c := range cells {
			fmt.Fprint(tw, c, "\t")
		}
		if note != "" {
			fmt.Fprint(tw, "  ", note)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	lines := strings.Split(figures.String(), "\n")

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, row := range t.rows {
		for _, c := range row[:t.names] {
			fmt.Fprint(tw, c, "\t")
		}
		// Every figure line starts with the padding of its first column.
		fmt.Fprintln(tw, lines[i][2:])
	}
	tw.Flush()
}
