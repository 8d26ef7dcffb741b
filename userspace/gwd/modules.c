// SPDX-License-Identifier: GPL-2.0
/* The module table: every gwd module, in apply order (add a module with one line here). */
#include "gwd/module.h"

extern const struct gwd_module l4_module, health_module, gateway_module;

const struct gwd_module *const gwd_modules[] = {
	&l4_module,
	&health_module,		/* after l4: it marks l4's backends */
	&gateway_module,
	NULL,
};
