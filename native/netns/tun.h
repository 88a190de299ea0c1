/* The TUN functions of weft_netns (tun.c), registered on the module's exports by netns.c's init. */
#ifndef WEFT_TUN_H
#define WEFT_TUN_H
#include <node_api.h>
void tun_init(napi_env env, napi_value exports);
#endif
