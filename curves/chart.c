/* Charts as SVG and PNG from one layout (qat/curves.h): the layout computes every mark and
 * label position once; two backends draw them, SVG as text, PNG as an anti-aliased raster
 * (libpng) with text from a TrueType font through FreeType. Scatter labels are placed greedily
 * so that no label overlaps another label, a marker or the plot's edge. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "qat/atomic_file.h"
#include "qat/curves.h"
#include "qat/error.h"

static const unsigned palette[QAT_CHART_MAX_SERIES] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e,
                                                       0x9467bd, 0x8c564b, 0xe377c2, 0x17becf};

/* ---- drawing primitives, recorded once and replayed by each backend ---- */
typedef enum { P_LINE, P_TEXT, P_CIRCLE, P_RECT } prim_kind;
typedef struct prim {
  prim_kind kind;
  double x0, y0, x1, y1, w; /* line: ends, width; circle: centre, radius w; rect: corners */
  unsigned color;
  int fill;                 /* rect/circle filled */
  char text[160];
  double size;              /* text: pixels */
  int anchor;               /* text: 0 start, 1 middle, 2 end */
  int vertical;             /* text rotated -90 degrees (reads bottom to top) */
  int bold;
} prim;

typedef struct scene {
  prim *p;
  int n, cap;
  int width, height;
  int oom;
} scene;

static prim *add(scene *s, prim_kind k) {
  if (s->oom) return NULL;
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 256;
    prim *q = realloc(s->p, (size_t)cap * sizeof *q);
    if (!q) {
      s->oom = 1;
      return NULL;
    }
    s->p = q;
    s->cap = cap;
  }
  prim *p = &s->p[s->n++];
  memset(p, 0, sizeof *p);
  p->kind = k;
  return p;
}

static void line(scene *s, double x0, double y0, double x1, double y1, double w, unsigned color) {
  prim *p = add(s, P_LINE);
  if (p) *p = (prim){.kind = P_LINE, .x0 = x0, .y0 = y0, .x1 = x1, .y1 = y1, .w = w, .color = color};
}
static void circle(scene *s, double x, double y, double r, unsigned color) {
  prim *p = add(s, P_CIRCLE);
  if (p) *p = (prim){.kind = P_CIRCLE, .x0 = x, .y0 = y, .w = r, .color = color, .fill = 1};
}
static void rect(scene *s, double x0, double y0, double x1, double y1, unsigned color, int fill) {
  prim *p = add(s, P_RECT);
  if (p) *p = (prim){.kind = P_RECT, .x0 = x0, .y0 = y0, .x1 = x1, .y1 = y1, .w = 1, .color = color, .fill = fill};
}
static void text(scene *s, double x, double y, const char *t, double size, int anchor, unsigned color) {
  prim *p = add(s, P_TEXT);
  if (!p) return;
  p->x0 = x, p->y0 = y, p->size = size, p->anchor = anchor, p->color = color;
  snprintf(p->text, sizeof p->text, "%s", t ? t : "");
}

/* The layout's text width: DejaVu Sans averages about 0.6 em per character. */
static double text_width(const char *t, double size) { return 0.6 * size * (double)strlen(t); }

/* ---- axes ---- */
static double nice_step(double span, int target) {
  double raw = span / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void fmt_tick(char *b, size_t n, double v, double step) {
  if (fabs(v) < step * 1e-6) v = 0;
  if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0)) snprintf(b, n, "%.2g", v);
  else {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(b, n, "%.*f", dec, v);
  }
}

typedef struct frame {
  double px0, py0, px1, py1; /* plot area in pixels */
  double x0, x1, y0, y1;     /* data range */
  int x_log;
} frame;

static double fx(const frame *f, double x) {
  /* a log axis: callers pass log10(x) already */
  return f->px0 + (x - f->x0) / (f->x1 - f->x0) * (f->px1 - f->px0);
}
static double fy(const frame *f, double y) { return f->py1 - (y - f->y0) / (f->y1 - f->y0) * (f->py1 - f->py0); }

/* Data ranges over all series (finite values; log x needs x > 0). */
static void data_range(const qat_chart *ch, double *xmin, double *xmax, double *ymin, double *ymax) {
  *xmin = *ymin = INFINITY;
  *xmax = *ymax = -INFINITY;
  for (int s = 0; s < ch->n_series; s++)
    for (int i = 0; i < ch->series[s].n; i++) {
      double x = ch->series[s].x[i], y = ch->series[s].y[i];
      if (!isfinite(x) || !isfinite(y) || (ch->x_log && x <= 0)) continue;
      if (ch->x_log) x = log10(x);
      if (x < *xmin) *xmin = x;
      if (x > *xmax) *xmax = x;
      if (y < *ymin) *ymin = y;
      if (y > *ymax) *ymax = y;
    }
  if (!isfinite(*xmin)) *xmin = 0, *xmax = 1, *ymin = 0, *ymax = 1;
}

typedef struct box {
  double x0, y0, x1, y1;
} box;
static int overlaps(box a, box b) { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1; }

static void layout_panel(scene *sc, const qat_chart *ch, double top, double height) {
  const int W = sc->width;
  const unsigned ink = 0x222222, grid = 0xe0e0e0, axis = 0x555555;
  /* the legend goes right of the plot, so it never covers a curve */
  double legend_w = 0;
  for (int s = 0; s < ch->n_series; s++) {
    double w = text_width(ch->series[s].name ? ch->series[s].name : "", 13) + 34;
    if (w > legend_w) legend_w = w;
  }
  if (legend_w > 260) legend_w = 260;
  frame f = {.px0 = 78, .py0 = top + 46, .px1 = W - 24 - legend_w, .py1 = top + height - 52, .x_log = ch->x_log};
  double xmin, xmax, ymin, ymax;
  data_range(ch, &xmin, &xmax, &ymin, &ymax);
  if (ch->y_from_zero && ymin > 0) ymin = 0;
  if (ymax - ymin < 1e-12) ymax = ymin + (fabs(ymin) > 0 ? fabs(ymin) * 0.1 : 1), ymin -= (ymax - ymin) * 0.5;
  if (xmax - xmin < 1e-12) xmax = xmin + 1, xmin -= 1;
  { /* headroom, so that no marker sits on the frame */
    double pad = (ymax - ymin) * 0.06;
    if (!(ch->y_from_zero && ymin == 0)) ymin -= pad;
    ymax += pad;
  }
  double ys = nice_step(ymax - ymin, 5);
  f.y0 = floor(ymin / ys) * ys;
  f.y1 = ceil(ymax / ys) * ys;
  double xs = ch->x_log ? 1 : nice_step(xmax - xmin, 6);
  if (ch->x_log) {
    double span = xmax - xmin < 0.3 ? 0.3 : xmax - xmin, mid = (xmax + xmin) / 2;
    f.x0 = mid - span / 2 - span * 0.12;
    f.x1 = mid + span / 2 + span * 0.12;
  } else {
    f.x0 = xmin;
    f.x1 = xmax;
    double pad = ch->series[0].no_line ? (xmax - xmin) * 0.06 : 0;
    f.x0 -= pad, f.x1 += pad;
  }
  /* title */
  prim *t = add(sc, P_TEXT);
  if (t) {
    t->x0 = W / 2.0, t->y0 = top + 26, t->size = 17, t->anchor = 1, t->color = ink, t->bold = 1;
    snprintf(t->text, sizeof t->text, "%s", ch->title ? ch->title : "");
  }
  /* grid, ticks */
  char b[64];
  for (double y = f.y0; y <= f.y1 + ys * 1e-6; y += ys) {
    double py = fy(&f, y);
    line(sc, f.px0, py, f.px1, py, 1, grid);
    fmt_tick(b, sizeof b, y, ys);
    text(sc, f.px0 - 8, py + 4.5, b, 12, 2, axis);
  }
  if (ch->x_log) {
    /* 1-2-5 ticks per decade, with 1.5, 3 and 7 too when the axis spans less than a decade */
    static const double fine[] = {1, 1.5, 2, 3, 5, 7}, coarse[] = {1, 2, 5};
    const int use_fine = f.x1 - f.x0 < 1.2;
    const double *mant = use_fine ? fine : coarse;
    const int nm = use_fine ? 6 : 3;
    double last_right = -1e9;
    for (double e = floor(f.x0); e <= ceil(f.x1); e += 1)
      for (int k = 0; k < nm; k++) {
        double v = mant[k] * pow(10, e), lv = log10(v);
        if (lv < f.x0 || lv > f.x1) continue;
        double px = fx(&f, lv);
        line(sc, px, f.py0, px, f.py1, 1, grid);
        if (v >= 1e6) snprintf(b, sizeof b, "%g M", v / 1e6);
        else if (v >= 1e3) snprintf(b, sizeof b, "%g k", v / 1e3);
        else snprintf(b, sizeof b, "%g", v);
        double w = text_width(b, 12);
        if (px - w / 2 < last_right + 6) continue;
        last_right = px + w / 2;
        text(sc, px, f.py1 + 18, b, 12, 1, axis);
      }
  } else {
    double last_right = -1e9;
    for (double x = ceil(f.x0 / xs) * xs; x <= f.x1 + xs * 1e-6; x += xs) {
      double px = fx(&f, x);
      line(sc, px, f.py0, px, f.py1, 1, grid);
      fmt_tick(b, sizeof b, x, xs);
      double w = text_width(b, 12);
      if (px - w / 2 < last_right + 6) continue; /* never overprint tick labels */
      last_right = px + w / 2;
      text(sc, px, f.py1 + 18, b, 12, 1, axis);
    }
  }
  rect(sc, f.px0, f.py0, f.px1, f.py1, axis, 0);
  text(sc, (f.px0 + f.px1) / 2, f.py1 + 40, ch->x_label, 13, 1, ink);
  prim *yl = add(sc, P_TEXT);
  if (yl) {
    yl->x0 = 20, yl->y0 = (f.py0 + f.py1) / 2, yl->size = 13, yl->anchor = 1, yl->color = ink, yl->vertical = 1;
    snprintf(yl->text, sizeof yl->text, "%s", ch->y_label ? ch->y_label : "");
  }
  /* series */
  box placed[512];
  int n_placed = 0;
  for (int s = 0; s < ch->n_series; s++) {
    const qat_chart_series *se = &ch->series[s];
    unsigned col = palette[s % QAT_CHART_MAX_SERIES];
    int have_prev = 0;
    double ppx = 0, ppy = 0;
    for (int i = 0; i < se->n; i++) {
      double x = se->x[i], y = se->y[i];
      if (!isfinite(x) || !isfinite(y) || (ch->x_log && x <= 0)) {
        have_prev = 0;
        continue;
      }
      double px = fx(&f, ch->x_log ? log10(x) : x), py = fy(&f, y);
      if (!se->no_line && have_prev) line(sc, ppx, ppy, px, py, 2, col);
      if (se->markers || se->no_line) {
        circle(sc, px, py, se->no_line ? 5 : 3.5, col);
        if (n_placed < 512) placed[n_placed++] = (box){px - 6, py - 6, px + 6, py + 6};
      }
      have_prev = 1, ppx = px, ppy = py;
    }
  }
  /* scatter labels: the first free spot of eight around the marker, moving outwards */
  for (int s = 0; s < ch->n_series; s++) {
    const qat_chart_series *se = &ch->series[s];
    if (!se->labels) continue;
    for (int i = 0; i < se->n; i++) {
      double x = se->x[i], y = se->y[i];
      if (!se->labels[i] || !isfinite(x) || !isfinite(y) || (ch->x_log && x <= 0)) continue;
      double px = fx(&f, ch->x_log ? log10(x) : x), py = fy(&f, y);
      double w = text_width(se->labels[i], 12), h = 14;
      static const double dirs[8][2] = {{1, 0}, {-1, 0}, {0, -1}, {0, 1}, {1, -1}, {-1, -1}, {1, 1}, {-1, 1}};
      int done = 0;
      for (double dist = 9; dist < 120 && !done; dist += 10)
        for (int d = 0; d < 8 && !done; d++) {
          double cx = px + dirs[d][0] * (dist + (dirs[d][0] ? w / 2 : 0));
          double cy = py + dirs[d][1] * (dist + (dirs[d][1] ? h / 2 : 0));
          box bx = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
          if (bx.x0 < f.px0 + 2 || bx.x1 > f.px1 - 2 || bx.y0 < f.py0 + 2 || bx.y1 > f.py1 - 2) continue;
          int clash = 0;
          for (int k = 0; k < n_placed && !clash; k++) clash = overlaps(bx, placed[k]);
          if (clash) continue;
          text(sc, cx, cy + 4.5, se->labels[i], 12, 1, 0x333333);
          if (dist > 12) line(sc, px, py, cx - dirs[d][0] * w / 2, cy - dirs[d][1] * h / 2, 0.8, 0x999999);
          if (n_placed < 512) placed[n_placed++] = bx;
          done = 1;
        }
    }
  }
  /* legend */
  double lx = f.px1 + 14, ly = f.py0 + 8;
  for (int s = 0; s < ch->n_series; s++) {
    unsigned col = palette[s % QAT_CHART_MAX_SERIES];
    double y = ly + s * 20;
    if (ch->series[s].no_line) circle(sc, lx + 10, y, 5, col);
    else line(sc, lx, y, lx + 20, y, 2.5, col);
    text(sc, lx + 27, y + 4.5, ch->series[s].name, 13, 0, ink);
  }
}

/* ---- SVG backend ---- */
static void svg_escape(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else fputc(*s, f);
  }
}

static void write_svg(FILE *f, const scene *sc) {
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"DejaVu Sans, Verdana, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
          sc->width, sc->height, sc->width, sc->height);
  static const char *const anchors[3] = {"start", "middle", "end"};
  for (int i = 0; i < sc->n; i++) {
    const prim *p = &sc->p[i];
    switch (p->kind) {
    case P_LINE:
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#%06x\" stroke-width=\"%.1f\" "
                 "stroke-linecap=\"round\"/>\n", p->x0, p->y0, p->x1, p->y1, p->color, p->w);
      break;
    case P_CIRCLE:
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#%06x\"/>\n", p->x0, p->y0, p->w, p->color);
      break;
    case P_RECT:
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" %s=\"#%06x\"%s/>\n", p->x0, p->y0,
              p->x1 - p->x0, p->y1 - p->y0, p->fill ? "fill" : "stroke", p->color, p->fill ? "" : " fill=\"none\"");
      break;
    case P_TEXT:
      fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" fill=\"#%06x\" text-anchor=\"%s\"%s", p->x0, p->y0,
              p->size, p->color, anchors[p->anchor], p->bold ? " font-weight=\"bold\"" : "");
      if (p->vertical) fprintf(f, " transform=\"rotate(-90 %.1f %.1f)\"", p->x0, p->y0);
      fputc('>', f);
      svg_escape(f, p->text);
      fputs("</text>\n", f);
      break;
    }
  }
  fputs("</svg>\n", f);
}

/* ---- PNG backend ---- */
typedef struct raster {
  int w, h;
  uint8_t *rgb;
} raster;

static void blend(raster *r, int x, int y, unsigned color, double a) {
  if (x < 0 || y < 0 || x >= r->w || y >= r->h || a <= 0) return;
  if (a > 1) a = 1;
  uint8_t *p = r->rgb + 3 * ((size_t)y * (size_t)r->w + (size_t)x);
  const int c[3] = {(int)(color >> 16) & 255, (int)(color >> 8) & 255, (int)color & 255};
  for (int k = 0; k < 3; k++) p[k] = (uint8_t)lrint(p[k] * (1 - a) + c[k] * a);
}

static void r_line(raster *r, double x0, double y0, double x1, double y1, double w, unsigned color) {
  double hw = w / 2;
  int bx0 = (int)floor(fmin(x0, x1) - hw - 1), bx1 = (int)ceil(fmax(x0, x1) + hw + 1);
  int by0 = (int)floor(fmin(y0, y1) - hw - 1), by1 = (int)ceil(fmax(y0, y1) + hw + 1);
  double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = by0; y <= by1; y++)
    for (int x = bx0; x <= bx1; x++) {
      double cx = x + 0.5, cy = y + 0.5;
      double t = len2 > 0 ? ((cx - x0) * dx + (cy - y0) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      double ex = x0 + t * dx - cx, ey = y0 + t * dy - cy, d = sqrt(ex * ex + ey * ey);
      double a = hw + 0.5 - d;
      if (w < 1) a *= w;
      blend(r, x, y, color, a);
    }
}

static void r_circle(raster *r, double cx, double cy, double rad, unsigned color) {
  for (int y = (int)floor(cy - rad - 1); y <= (int)ceil(cy + rad + 1); y++)
    for (int x = (int)floor(cx - rad - 1); x <= (int)ceil(cx + rad + 1); x++) {
      double d = hypot(x + 0.5 - cx, y + 0.5 - cy);
      blend(r, x, y, color, rad + 0.5 - d);
    }
}

static const char *font_path(int bold) {
  const char *env = getenv("QAT_FONT");
  if (env && *env) return env;
  return bold ? "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf" : "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
}

static int r_text(raster *r, FT_Library lib, FT_Face faces[2], const prim *p) {
  FT_Face face = faces[p->bold ? 1 : 0];
  if (!face) face = faces[0];
  FT_Set_Pixel_Sizes(face, 0, (FT_UInt)lrint(p->size));
  /* measure */
  double adv = 0;
  for (const unsigned char *s = (const unsigned char *)p->text; *s; s++) {
    if (FT_Load_Char(face, *s, FT_LOAD_DEFAULT)) continue;
    adv += face->glyph->advance.x / 64.0;
  }
  /* integer pixel origin, so that every glyph column lands on its own pixel column */
  long ox = lrint(floor(p->x0 + 0.5)), oy = lrint(floor(p->y0 + 0.5));
  long pen = lrint(floor((p->anchor == 0 ? 0 : p->anchor == 1 ? -adv / 2 : -adv) + 0.5));
  for (const unsigned char *s = (const unsigned char *)p->text; *s; s++) {
    if (FT_Load_Char(face, *s, FT_LOAD_RENDER)) continue;
    FT_GlyphSlot g = face->glyph;
    for (unsigned row = 0; row < g->bitmap.rows; row++)
      for (unsigned col = 0; col < g->bitmap.width; col++) {
        double a = g->bitmap.buffer[row * (unsigned)g->bitmap.pitch + col] / 255.0;
        long gx = pen + g->bitmap_left + (long)col, gy = -(long)g->bitmap_top + (long)row;
        int X, Y;
        if (p->vertical) X = (int)(ox + gy), Y = (int)(oy - gx);
        else X = (int)(ox + gx), Y = (int)(oy + gy);
        blend(r, X, Y, p->color, a);
      }
    pen += (g->advance.x + 32) / 64;
  }
  (void)lib;
  return 0;
}

static void png_to_mem(png_structp png, png_bytep data, png_size_t n) {
  FILE *f = png_get_io_ptr(png);
  if (fwrite(data, 1, n, f) != n) png_error(png, "write failed");
}
static void png_flush_mem(png_structp png) { (void)png; }

static int write_png(const scene *sc, const char *path) {
  raster r = {sc->width, sc->height, malloc((size_t)sc->width * (size_t)sc->height * 3)};
  if (!r.rgb) return qat_fail(QAT_ERR_NOMEM, "out of memory");
  memset(r.rgb, 255, (size_t)r.w * (size_t)r.h * 3);
  FT_Library lib = NULL;
  FT_Face faces[2] = {NULL, NULL};
  int rc = 0;
  if (FT_Init_FreeType(&lib)) {
    rc = qat_fail(QAT_ERR_INTERNAL, "%s: FreeType does not initialize", path);
    goto done;
  }
  if (FT_New_Face(lib, font_path(0), 0, &faces[0])) {
    rc = qat_fail(QAT_ERR_IO, "%s: cannot load the font %s (install fonts-dejavu-core or set QAT_FONT)", path,
                  font_path(0));
    goto done;
  }
  if (FT_New_Face(lib, font_path(1), 0, &faces[1])) faces[1] = NULL;
  for (int i = 0; i < sc->n; i++) {
    const prim *p = &sc->p[i];
    if (p->kind == P_LINE) r_line(&r, p->x0, p->y0, p->x1, p->y1, p->w, p->color);
    else if (p->kind == P_CIRCLE) r_circle(&r, p->x0, p->y0, p->w, p->color);
    else if (p->kind == P_RECT) {
      if (p->fill) {
        for (int y = (int)p->y0; y < (int)p->y1; y++)
          for (int x = (int)p->x0; x < (int)p->x1; x++) blend(&r, x, y, p->color, 1);
      } else {
        r_line(&r, p->x0, p->y0, p->x1, p->y0, 1, p->color);
        r_line(&r, p->x1, p->y0, p->x1, p->y1, 1, p->color);
        r_line(&r, p->x1, p->y1, p->x0, p->y1, 1, p->color);
        r_line(&r, p->x0, p->y1, p->x0, p->y0, 1, p->color);
      }
    } else r_text(&r, lib, faces, p);
  }
  qat_atomic_file af;
  if ((rc = qat_atomic_begin(&af, path))) goto done;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    qat_atomic_abort(&af);
    rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
    goto done;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    qat_atomic_abort(&af);
    rc = qat_fail(QAT_ERR_IO, "%s: PNG write failed", path);
    goto done;
  }
  png_set_write_fn(png, af.fp, png_to_mem, png_flush_mem);
  png_set_IHDR(png, info, (png_uint_32)r.w, (png_uint_32)r.h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < r.h; y++) png_write_row(png, r.rgb + (size_t)y * (size_t)r.w * 3);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  rc = qat_atomic_commit(&af);
done:
  if (faces[0]) FT_Done_Face(faces[0]);
  if (faces[1]) FT_Done_Face(faces[1]);
  if (lib) FT_Done_FreeType(lib);
  free(r.rgb);
  return rc;
}

int qat_chart_write_panels(const qat_chart *charts, int n, const char *svg_path, const char *png_path) {
  if (n < 1) return qat_fail(QAT_ERR_USAGE, "chart: nothing to draw");
  scene sc = {0};
  sc.width = charts[0].width ? charts[0].width : 900;
  double top = 0;
  for (int i = 0; i < n; i++) top += charts[i].height ? charts[i].height : 540;
  sc.height = (int)top;
  top = 0;
  for (int i = 0; i < n; i++) {
    if (charts[i].n_series < 1 || charts[i].n_series > QAT_CHART_MAX_SERIES)
      return qat_fail(QAT_ERR_USAGE, "chart '%s': %d series (1 to %d)", charts[i].title ? charts[i].title : "",
                      charts[i].n_series, QAT_CHART_MAX_SERIES);
    double h = charts[i].height ? charts[i].height : 540;
    layout_panel(&sc, &charts[i], top, h);
    top += h;
  }
  int rc = 0;
  if (sc.oom) rc = qat_fail(QAT_ERR_NOMEM, "out of memory");
  if (!rc && svg_path) {
    qat_atomic_file af;
    if (!(rc = qat_atomic_begin(&af, svg_path))) {
      write_svg(af.fp, &sc);
      rc = qat_atomic_commit(&af);
    }
  }
  if (!rc && png_path) rc = write_png(&sc, png_path);
  free(sc.p);
  return rc;
}

int qat_chart_write(const qat_chart *ch, const char *svg_path, const char *png_path) {
  return qat_chart_write_panels(ch, 1, svg_path, png_path);
}
