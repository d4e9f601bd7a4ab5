package config

import (
	"strconv"
	"strings"
)

// unpriced marks an effect whose price EFFECTS leaves to PRICE_STARS,
// until loadPayments resolves it.
const unpriced = -1

// loadPayments: Telegram Stars. Without PRICE_STARS everything is free,
// exactly as without payments, and an effect's own price is ignored (not
// an error: it waits for payments to be turned on).
func loadPayments(p *problems, c *Config) {
	pay := &c.Payments
	pay.PriceStars = count(p, "PRICE_STARS", "0")
	free := "0"
	if pay.PriceStars > 0 {
		free = "1"
	}
	pay.FreePerDay = count(p, "FREE_PER_DAY", free)
	for _, s := range strings.Split(p.get("STAR_PACKS", "50,150,500"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			p.bad("STAR_PACKS", "%q is not a whole number of Stars >= 1 (e.g. 50,150,500)", strings.TrimSpace(s))
			continue
		}
		pay.StarPacks = append(pay.StarPacks, n)
	}
	pay.PaySupport = textVar(p, "PAY_SUPPORT")
	pay.Terms = textVar(p, "TERMS")
	for i := range c.Effects {
		e := &c.Effects[i]
		switch {
		case pay.PriceStars == 0:
			e.Price = 0
		case e.Price == unpriced:
			e.Price = pay.PriceStars
		}
	}
}
