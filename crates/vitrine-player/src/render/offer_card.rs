//! Offer cards: a product image, title, price, old price struck through, a discount badge, a
//! validity line and a QR code carrying the per-play URL, laid out by a template from
//! `assets/offer-cards/*.yaml`. A card is composed once into a texture (premultiplied alpha) and
//! then composited like any other picture, so its many glyphs never cost a frame twice.

use serde::Deserialize;
use vitrine_core::Sha256Hex;
use vitrine_core::offer::{CardPrice, UnitPrice};

use super::compositor::begin_pass;
use super::geometry::{Rect, Rotation, fit_rect};
use super::price::{format_discount, format_price};
use super::quad::{QuadUniform, Sampling, create_render_texture, create_texture, draw_quads};
use super::text::{PlacedText, TextAlign, TextSpec};
use super::{Color, ContentKey, Fit, Gpu, Renderer, qr};

/// The card template shipped with the player.
pub const DEFAULT_TEMPLATE_YAML: &str = include_str!("../../../../assets/offer-cards/default.yaml");
/// The bundled portrait template, for zones taller than wide.
pub const PORTRAIT_TEMPLATE_YAML: &str =
    include_str!("../../../../assets/offer-cards/portrait.yaml");

/// One offer, as it goes on a card.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OfferCard {
    pub title: String,
    /// The price in force, with the one before a sale (struck through; it also yields the badge
    /// when `badge` is unset). `None` draws no price at all: the card never makes one up.
    pub price: Option<CardPrice>,
    /// BCP 47, the store's: `fr-FR`, `de-DE`, `en-US`, `en-GB`…
    pub locale: String,
    /// Badge text; `None` shows the discount (`-20 %`) when there is an old price.
    pub badge: Option<String>,
    /// A line such as "Valable jusqu'au 31/12", already in the store's language.
    pub validity: Option<String>,
    /// The product picture, already uploaded to the renderer.
    pub image: Option<ContentKey>,
    /// The per-play URL the QR code encodes.
    pub qr_url: Option<String>,
    /// The offer item's brand font (from the media cache), for every text on the card.
    pub font: Option<Sha256Hex>,
    /// The price per kg, litre, 100 g... in the price's currency, where the feed gives one.
    pub unit_price: Option<UnitPrice>,
}

impl OfferCard {
    /// The texture key for this card drawn at `size_px`: any change makes a new one.
    pub fn key(&self, size_px: (u32, u32)) -> ContentKey {
        let text = format!("{self:?}/{}x{}", size_px.0, size_px.1);
        ContentKey::generated("offer", &[text.as_bytes()])
    }

    /// The badge to show, if any: the given text, or the discount from the old price.
    pub fn badge_text(&self) -> Option<String> {
        self.badge.clone().or_else(|| {
            let price = self.price.as_ref()?;
            format_discount(price.old_cents?, price.cents, &self.locale)
        })
    }
}

/// A box of text on the card.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBox {
    /// [x, y, width, height] as fractions of the card.
    #[serde(rename = "box")]
    pub area: [f32; 4],
    /// Font size as a fraction of the card's height.
    pub size: f32,
    pub colour: Color,
    #[serde(default)]
    pub bold: bool,
    #[serde(default = "left")]
    pub align: TextAlign,
    /// A filled rectangle behind the text (the badge).
    #[serde(default)]
    pub background: Option<Color>,
    /// A text that wraps (the title) shows at most this many lines, then an ellipsis; left out,
    /// as many as the box holds.
    #[serde(default)]
    pub lines: Option<usize>,
}

fn left() -> TextAlign {
    TextAlign::Left
}

/// The line through the old price.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strike {
    pub colour: Color,
    /// As a fraction of the card's height.
    pub thickness: f32,
}

/// Where everything goes on a card. See `assets/offer-cards/default.yaml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferTemplate {
    pub background: Color,
    pub image: [f32; 4],
    pub title: TextBox,
    pub price: TextBox,
    pub old_price: TextBox,
    pub strike: Strike,
    pub badge: TextBox,
    pub validity: TextBox,
    /// Where the unit price goes (`6,65 € / kg`); a template without one shows none.
    #[serde(default)]
    pub unit_price: Option<TextBox>,
    /// The QR code is the largest square of whole pixels per module inside this box, centred.
    pub qr: [f32; 4],
}

impl OfferTemplate {
    /// Reads a template; errors name the line and column.
    pub fn from_yaml(source: &str) -> anyhow::Result<Self> {
        serde_saphyr::from_str(source)
            .map_err(|error| anyhow::anyhow!("bad offer card template: {error}"))
    }

    /// The template shipped in `assets/offer-cards/default.yaml`.
    pub fn builtin() -> Self {
        Self::from_yaml(DEFAULT_TEMPLATE_YAML).expect("the bundled offer card template is valid")
    }

    /// The bundled portrait template.
    pub fn builtin_portrait() -> Self {
        Self::from_yaml(PORTRAIT_TEMPLATE_YAML)
            .expect("the bundled portrait offer card template is valid")
    }
}

impl Renderer {
    /// Composes `card` with `template` into a texture of `size_px` under `key` (see
    /// [`OfferCard::key`]). Its product image must already be uploaded.
    pub fn prepare_offer_card(
        &mut self,
        gpu: &Gpu,
        key: ContentKey,
        card: &OfferCard,
        template: &OfferTemplate,
        size_px: (u32, u32),
    ) -> anyhow::Result<()> {
        let (width, height) = (size_px.0.max(1), size_px.1.max(1));
        let card_rect = |area: [f32; 4]| Rect::from_fractions(area, (width, height));
        let format = wgpu::TextureFormat::Rgba8UnormSrgb;
        self.quads.pipeline(&gpu.device, format);
        let qr_pixels = card.qr_url.as_deref().map(qr::encode).transpose()?;
        if let Some(image) = &card.image
            && !self.has(image)
        {
            anyhow::bail!("the offer's product image {image} is not uploaded yet");
        }

        // Lay out the texts first: the strike line and the shrinking need their measured sizes.
        let mut texts = Vec::new();
        let mut strike = None;
        let mut badge_rect = None;
        {
            let engine = self.text_engine(gpu);
            let mut place = |text: &str, text_box: &TextBox, wrap: bool| {
                let area = card_rect(text_box.area);
                let size_px = text_box.size * height as f32;
                let spec = TextSpec {
                    text: text.to_owned(),
                    size_px,
                    // A title is never shrunk: past its lines it ends in an ellipsis, inside its
                    // box, so it never runs over the price or the QR code.
                    min_size_px: size_px,
                    font: card.font.clone(),
                    locale: card.locale.clone(),
                    colour: text_box.colour,
                    align: text_box.align,
                    bold: text_box.bold,
                    ticker: None,
                    background: None,
                };
                let (mut layout, _) = if wrap {
                    engine.lay_out(&spec, Some((area.width, area.height)), text_box.lines)
                } else {
                    engine.lay_out(&spec, None, None)
                };
                if !wrap && layout.width > area.width {
                    // A price too long for one line shrinks to fit: it is never cut.
                    let shrunk = TextSpec {
                        size_px: size_px * area.width / layout.width,
                        ..spec
                    };
                    layout = engine.lay_out(&shrunk, None, None).0;
                }
                let left = match text_box.align {
                    TextAlign::Left => area.x,
                    TextAlign::Center => area.x + (area.width - layout.width) / 2.0,
                    TextAlign::Right => area.right() - layout.width,
                };
                let left = if wrap { area.x } else { left };
                let top = if wrap {
                    area.y
                } else {
                    area.y + (area.height - layout.height) / 2.0
                };
                let measured = Rect::new(left, top, layout.width, layout.height);
                texts.push(PlacedText {
                    buffer: layout.buffer,
                    left: left.round(),
                    top: top.round(),
                    colour: text_box.colour,
                    bounds: [
                        area.x.floor() as i32,
                        area.y.floor() as i32,
                        area.right().ceil() as i32,
                        area.bottom().ceil() as i32,
                    ],
                });
                measured
            };
            place(&card.title, &template.title, true);
            if let Some(price) = &card.price {
                place(
                    &format_price(price.cents, &price.currency, &card.locale),
                    &template.price,
                    false,
                );
            }
            if let Some(price) = &card.price
                && let Some(old_cents) = price.old_cents
            {
                let measured = place(
                    &format_price(old_cents, &price.currency, &card.locale),
                    &template.old_price,
                    false,
                );
                let thickness = (template.strike.thickness * height as f32).max(1.0).round();
                strike = Some(Rect::new(
                    measured.x.round() - 2.0,
                    (measured.y + measured.height * 0.55 - thickness / 2.0).round(),
                    measured.width.round() + 4.0,
                    thickness,
                ));
            }
            if let Some(badge) = card.badge_text() {
                let badge_box = TextBox {
                    align: TextAlign::Center,
                    ..template.badge.clone()
                };
                place(&badge, &badge_box, false);
                badge_rect = Some(card_rect(template.badge.area));
            }
            if let Some(validity) = &card.validity {
                place(validity, &template.validity, false);
            }
            if let (Some(unit), Some(price), Some(unit_box)) =
                (&card.unit_price, &card.price, &template.unit_price)
            {
                let per_unit = format_price(unit.cents, &price.currency, &card.locale);
                place(&format!("{per_unit} / {}", unit.per), unit_box, false);
            }
        }

        let qr_texture = qr_pixels.as_ref().map(|pixels| {
            let texture = create_texture(
                &gpu.device,
                &gpu.queue,
                pixels.side,
                pixels.side,
                &pixels.rgba,
                "qr",
            );
            let bind_group =
                self.quads
                    .texture_bind_group(&gpu.device, &texture, Sampling::Nearest);
            (texture, bind_group, pixels.side)
        });

        // The quads: background, product image, badge, QR code; then the text; then the strike,
        // which goes over the old price's glyphs.
        let logical = (width, height);
        let quad = |placed: Rect, uv: Rect, tint: [f32; 4], premultiplied: bool| {
            QuadUniform::new(placed, uv, logical, Rotation::Deg0, tint, premultiplied)
        };
        let whole = Rect::new(0.0, 0.0, width as f32, height as f32);
        let mut uniforms = vec![quad(
            whole,
            Rect::UNIT,
            template.background.to_linear_premultiplied(),
            false,
        )];
        let mut bind_groups: Vec<&wgpu::BindGroup> = vec![&self.quads.white];
        if let Some(image) = card.image.as_ref().and_then(|key| self.textures.get(key)) {
            let (placed, uv) = fit_rect(
                (image.width, image.height),
                card_rect(template.image),
                Fit::Contain,
            );
            uniforms.push(quad(placed, uv, [1.0; 4], false));
            bind_groups.push(image.first_bind_group());
        }
        if let (Some(area), Some(background)) = (badge_rect, template.badge.background) {
            uniforms.push(quad(
                area,
                Rect::UNIT,
                background.to_linear_premultiplied(),
                false,
            ));
            bind_groups.push(&self.quads.white);
        }
        if let Some((_, bind_group, side)) = &qr_texture {
            let area = card_rect(template.qr);
            // Whole pixels per module keep every module the same size: scanners like that.
            let module_px = ((area.width.min(area.height)) / *side as f32)
                .floor()
                .max(1.0);
            let size = module_px * *side as f32;
            let placed = Rect::new(
                (area.x + (area.width - size) / 2.0).round(),
                (area.y + (area.height - size) / 2.0).round(),
                size,
                size,
            );
            uniforms.push(quad(placed, Rect::UNIT, [1.0; 4], false));
            bind_groups.push(bind_group);
        }
        let strike_slot = strike.map(|line| {
            uniforms.push(quad(
                line,
                Rect::UNIT,
                template.strike.colour.to_linear_premultiplied(),
                false,
            ));
            uniforms.len() - 1
        });

        let (uniform_buffer, uniform_bind_group) =
            self.quads.uniform_buffer(&gpu.device, uniforms.len());
        gpu.queue
            .write_buffer(&uniform_buffer, 0, &self.quads.pack(uniforms.into_iter()));
        let texture = create_render_texture(&gpu.device, width, height, "offer card");
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let engine = self
            .text
            .as_mut()
            .expect("the text engine was made while laying out the card");
        engine.prepare(&gpu.device, &gpu.queue, (width, height), &texts)?;
        let pipeline = &self.quads.pipelines[&format];
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("offer card"),
            });
        {
            let mut pass = begin_pass(&mut encoder, &view, wgpu::Color::TRANSPARENT, "offer card");
            let boxes = strike_slot.map_or(bind_groups.len(), |slot| slot.min(bind_groups.len()));
            draw_quads(
                &mut pass,
                pipeline,
                &uniform_bind_group,
                self.quads.stride,
                &bind_groups[..boxes],
            );
            engine.render(&mut pass)?;
            if let Some(slot) = strike_slot {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(
                    0,
                    &uniform_bind_group,
                    &[(slot as u64 * self.quads.stride) as u32],
                );
                pass.set_bind_group(1, &self.quads.white, &[]);
                pass.draw(0..4, 0..1);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        engine.trim();
        drop(qr_texture);
        self.insert_rendered(gpu, key, texture, (width, height), Sampling::Smooth, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_templates_read() {
        let template = OfferTemplate::builtin();
        assert_eq!(template.background, Color::WHITE);
        assert!(template.qr[2] > 0.1);
        let portrait = OfferTemplate::builtin_portrait();
        assert!(
            portrait.qr[1] > 0.5,
            "the QR code sits under the text in portrait"
        );
    }

    #[test]
    fn template_errors_name_the_place() {
        let broken =
            DEFAULT_TEMPLATE_YAML.replace("background: \"#ffffff\"", "backgrund: \"#ffffff\"");
        let error = OfferTemplate::from_yaml(&broken).unwrap_err().to_string();
        assert!(error.contains("backgrund"), "{error}");
        assert!(error.contains("line"), "{error}");
    }

    #[test]
    fn the_badge_is_the_discount_unless_given() {
        let mut card = OfferCard {
            title: "Café".into(),
            price: Some(CardPrice {
                cents: 1299,
                old_cents: Some(1624),
                currency: "EUR".into(),
            }),
            locale: "en-GB".into(),
            badge: None,
            validity: None,
            image: None,
            qr_url: None,
            font: None,
            unit_price: None,
        };
        assert_eq!(card.badge_text().as_deref(), Some("-20%"));
        card.badge = Some("NEW".into());
        assert_eq!(card.badge_text().as_deref(), Some("NEW"));
        card.badge = None;
        card.price.as_mut().unwrap().old_cents = None;
        assert_eq!(card.badge_text(), None);
        card.price = None;
        assert_eq!(card.badge_text(), None, "no price, no discount");
    }
}
