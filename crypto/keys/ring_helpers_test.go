package keys

// CurrentKey derives the key for purpose p in the current epoch.
func (r *Ring) CurrentKey(p Purpose) (Secret, error) { return r.Key(p, r.current) }
