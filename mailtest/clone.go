package mailtest

import (
	"maps"

	"github.com/exigo-mta/exigo"
)

// cloneMessage copies m deeply enough that changes to the original (its
// header, envelope, recipients' attributes, variables, session) do not
// show in the copy. Attribute values themselves are shared. The Body
// opener is shared too; callers replace it when its source may go away.
func cloneMessage(m *exigo.Message) *exigo.Message {
	c := *m
	c.Header = m.Header.Copy()
	c.Envelope.Recipients = cloneRecipients(m.Envelope.Recipients)
	c.Vars = maps.Clone(m.Vars)
	c.Attrs = m.Attrs.Clone()
	if m.Session != nil {
		s := *m.Session
		s.Vars = maps.Clone(m.Session.Vars)
		s.Attrs = m.Session.Attrs.Clone()
		if m.Session.TLS != nil {
			t := *m.Session.TLS
			s.TLS = &t
		}
		c.Session = &s
	}
	return &c
}

// cloneRecipients copies rs; parents are shared.
func cloneRecipients(rs []*exigo.Recipient) []*exigo.Recipient {
	if rs == nil {
		return nil
	}
	out := make([]*exigo.Recipient, len(rs))
	for i, r := range rs {
		cp := *r
		cp.Attrs = r.Attrs.Clone()
		out[i] = &cp
	}
	return out
}
