package arc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ParseDNSFile reads key records for offline use: one "name TXT-value"
// per line (the value is the rest of the line, unquoted); empty lines and
// lines starting with "#" are skipped.
func ParseDNSFile(r io.Reader) (MapResolver, error) {
	m := MapResolver{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			name, val, ok = strings.Cut(line, "\t")
		}
		if !ok {
			return nil, fmt.Errorf("arc: dns file line %d: want \"name TXT-value\"", n)
		}
		m[strings.TrimSuffix(name, ".")] = strings.TrimSpace(val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("arc: reading dns file: %w", err)
	}
	return m, nil
}
