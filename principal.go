package minsheng

import "context"

// Principal is an authenticated desk: a newspaper or broadcaster letter desk,
// a department, a residents' committee, the petition bureau, 12345 dispatch or
// the discipline inspectors. A desk may submit items on its channel, read the
// queues of the destinations it is granted, or both.
type Principal struct {
	// Name is the desk's unique name; items it submits carry it as Source.
	Name string `json:"name"`
	// Channel the desk submits on; empty for a desk that only reads.
	Channel Channel `json:"channel,omitempty"`
	// Reads lists the destinations whose queues the desk may read.
	Reads []string `json:"reads,omitempty"`
}

// CanRead reports whether the desk may read the destination's queue.
func (p *Principal) CanRead(dest string) bool {
	if p == nil {
		return false
	}
	for _, d := range p.Reads {
		if d == dest {
			return true
		}
	}
	return false
}

// ReadsAny reports whether the desk may read any of the destinations.
func (p *Principal) ReadsAny(dests []string) bool {
	for _, d := range dests {
		if p.CanRead(d) {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a context carrying the authenticated desk.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated desk, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
