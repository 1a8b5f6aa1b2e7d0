// Customer Care Registry browser client: progressive enhancement over the server-rendered pages.
"use strict";
