#ifndef HERALD_CCURL_SHIM_H
#define HERALD_CCURL_SHIM_H
#include <curl/curl.h>
/* The loop that drives curl's socket interface waits in epoll and is woken by an
   eventfd (Swift's Glibc module has neither header). */
#include <sys/epoll.h>
#include <sys/eventfd.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them.
   These typed wrappers are the only way Herald sets options. */
static inline CURLcode herald_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode herald_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode herald_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode herald_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode herald_curl_setopt_offset(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*herald_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode herald_curl_setopt_data_cb(CURL *h, CURLoption o, herald_curl_data_cb v) { return curl_easy_setopt(h, o, v); }
/* CURLOPT_OPENSOCKETFUNCTION: called with the address curl is about to connect
   to (after DNS), so a webhook's address is checked where it is used. */
typedef curl_socket_t (*herald_curl_opensocket_cb)(void *clientp, curlsocktype purpose, struct curl_sockaddr *address);
static inline CURLcode herald_curl_setopt_opensocket_cb(CURL *h, herald_curl_opensocket_cb v) { return curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, v); }
static inline CURLcode herald_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode herald_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode herald_curl_multi_setopt_pointer(CURLM *m, CURLMoption o, void *v) { return curl_multi_setopt(m, o, v); }
/* The event-driven interface (curl_multi_socket_action): curl says which sockets
   to watch and when its next timeout is due through these two callbacks. */
typedef int (*herald_curl_socket_cb)(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
typedef int (*herald_curl_timer_cb)(CURLM *multi, long timeout_ms, void *userp);
static inline CURLMcode herald_curl_multi_setopt_socket_cb(CURLM *m, herald_curl_socket_cb v) { return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, v); }
static inline CURLMcode herald_curl_multi_setopt_timer_cb(CURLM *m, herald_curl_timer_cb v) { return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, v); }
#endif
