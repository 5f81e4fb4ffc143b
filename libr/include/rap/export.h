#ifndef RAP_EXPORT_H
#define RAP_EXPORT_H

/* Everything is built with hidden visibility; RAP_API marks the public declarations.
 * RAP_BUILDING is defined only while the libraries themselves are compiled. */
#if defined(RAP_BUILDING) && defined(__GNUC__)
#define RAP_API __attribute__((visibility("default")))
#else
#define RAP_API
#endif

#endif
