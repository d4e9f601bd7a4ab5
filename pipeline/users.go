package pipeline

import (
	"fmt"
	"strconv"
	"strings"
)

// Users is a set of Telegram users, by id or @username (ALLOWED_USERS,
// ADMIN_USERS).
type Users struct {
	ids   map[int64]bool
	names map[string]bool
}

// ParseUsers reads a comma-separated list of user ids and @usernames.
func ParseUsers(s string) (*Users, error) {
	u := &Users{ids: map[int64]bool{}, names: map[string]bool{}}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case strings.HasPrefix(f, "@") && len(f) > 1:
			u.names[strings.ToLower(f[1:])] = true
		default:
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a user id nor an @username", f)
			}
			u.ids[id] = true
		}
	}
	return u, nil
}

// Has reports whether the user is in the set. A nil set has nobody.
func (u *Users) Has(from *User) bool {
	if u == nil || from == nil {
		return false
	}
	return u.ids[from.ID] || (from.Username != "" && u.names[strings.ToLower(from.Username)])
}

// Len is the number of entries.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.ids) + len(u.names)
}
