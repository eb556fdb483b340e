//! Which decoder GStreamer picks. `decodebin` chooses by rank, so a hardware decoder (VA-API,
//! V4L2) that outranks the software one is used with no code change. The `[video] decoder` setting
//! changes ranks once at start-up: `software` takes hardware decoders out of the running, and an
//! element name puts that element first.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::VideoError;

/// What the `[video] decoder` setting asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DecoderChoice {
    /// GStreamer's ranking: hardware first where present.
    #[default]
    Auto,
    /// Software decoders only (a driver that misbehaves, or reproducible tests).
    Software,
    /// This element first, e.g. `vah264dec` or `avdec_h264`.
    Element(String),
}

impl DecoderChoice {
    /// Reads the setting: `auto`, `software` or an element name.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "" | "auto" => DecoderChoice::Auto,
            "software" => DecoderChoice::Software,
            name => DecoderChoice::Element(name.to_owned()),
        }
    }
}

/// Applies `choice` to GStreamer's registry (process-wide, like the setting itself).
pub fn apply(choice: &DecoderChoice) -> Result<(), VideoError> {
    let registry = gst::Registry::get();
    match choice {
        DecoderChoice::Auto => Ok(()),
        DecoderChoice::Software => {
            let mut demoted = Vec::new();
            for feature in registry.features(gst::ElementFactory::static_type()) {
                let Ok(factory) = feature.downcast::<gst::ElementFactory>() else {
                    continue;
                };
                let klass = factory.klass();
                if klass.contains("Decoder") && klass.contains("Hardware") {
                    factory.set_rank(gst::Rank::NONE);
                    demoted.push(factory.name().to_string());
                }
            }
            tracing::info!(
                ?demoted,
                "software video decoding: hardware decoders set aside"
            );
            Ok(())
        }
        DecoderChoice::Element(name) => {
            let factory = gst::ElementFactory::find(name)
                .ok_or_else(|| VideoError::UnknownDecoder(name.clone()))?;
            if !factory.klass().contains("Decoder") {
                return Err(VideoError::NotADecoder {
                    name: name.clone(),
                    klass: factory.klass().to_owned(),
                });
            }
            factory.set_rank(gst::Rank::PRIMARY + 1000);
            tracing::info!(decoder = %name, "video decoder chosen by the configuration");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_reads_auto_software_or_an_element() {
        assert_eq!(DecoderChoice::parse("auto"), DecoderChoice::Auto);
        assert_eq!(DecoderChoice::parse(""), DecoderChoice::Auto);
        assert_eq!(DecoderChoice::parse("software"), DecoderChoice::Software);
        assert_eq!(
            DecoderChoice::parse("vah264dec"),
            DecoderChoice::Element("vah264dec".into())
        );
    }

    #[test]
    fn a_decoder_that_is_not_installed_is_refused_with_its_name() {
        gst::init().unwrap();
        let error = apply(&DecoderChoice::Element("nosuchdec".into())).unwrap_err();
        assert!(error.to_string().contains("\"nosuchdec\""), "{error}");
        assert!(error.to_string().contains("gst-inspect-1.0"), "{error}");
        let error = apply(&DecoderChoice::Element("videoconvert".into())).unwrap_err();
        assert!(error.to_string().contains("not a decoder"), "{error}");
        apply(&DecoderChoice::Element("avdec_h264".into())).unwrap();
    }
}
