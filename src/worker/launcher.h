/*
 * launcher.h — the background processes: the launcher (worker/launcher.c)
 * and the worker it keeps running (worker/worker.c).
 */
#ifndef SHOPIFY_LAUNCHER_H
#define SHOPIFY_LAUNCHER_H

#include "postgres.h"

extern PGDLLEXPORT void shopify_launcher_main(Datum arg);
extern PGDLLEXPORT void shopify_worker_main(Datum arg);
extern void shopify_register_launcher(void);

#endif
