/* The NFLOG function of weft_netns (nflog.c), registered on the module's exports by netns.c's init. */
#ifndef WEFT_NFLOG_H
#define WEFT_NFLOG_H
#include <node_api.h>
void nflog_init(napi_env env, napi_value exports);
#endif
